// Benchmark scorers (`imp eval score`): each reproduces the official Python evaluation of one
// benchmark on a merged answers JSONL (lines {"question_id","prompt","text",...} as written by
// model_vqa_loader / model_vqa_science) and returns the metrics as JSON plus a readable table.
// Where the Python code would crash on degenerate input (division by zero) the metric is null and
// a note says why; inputs the Python code cannot read (missing keys, malformed files) are errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "imp/core/json.h"

namespace imp::eval {

using ::imp::OrderedJson;  // core/json.h

struct ScoreOptions {
  std::string benchmark;        // textvqa | pope | mme | sqa | gqa | vqav2 | vizwiz
  std::string answers;          // merged answers JSONL
  std::string question_file;    // pope: llava_pope_test.jsonl; gqa: testdev_balanced_questions.json;
                                // vizwiz: the question JSONL (question_id -> image)
  std::string annotation_file;  // textvqa: TextVQA_0.5.1_val.json; vqav2: v2_mscoco_val2014_annotations.json;
                                // vizwiz: val.json
  std::string annotation_dir;   // pope: the directory of coco_pope_<split>.json label files
  std::string base_dir;         // sqa: dir with pid_splits.json + problems.json;
                                // mme: MME_Benchmark_release_version
  std::string split = "test";   // sqa: key of pid_splits.json
  std::string mme_results_dir;  // mme: also write eval_tool's <category>.txt files here (optional)
};

struct ScoreReport {
  OrderedJson metrics;  // JSON for stdout / files
  std::string table;    // aligned text for stderr
  // The number the Imp README reports for the benchmark (percent; MME: the perception total).
  std::optional<double> headline;
};

ScoreReport score_textvqa(const ScoreOptions& o);
ScoreReport score_pope(const ScoreOptions& o);
ScoreReport score_mme(const ScoreOptions& o);
ScoreReport score_sqa(const ScoreOptions& o);
ScoreReport score_gqa(const ScoreOptions& o);
ScoreReport score_vqav2(const ScoreOptions& o);
ScoreReport score_vizwiz(const ScoreOptions& o);

// Names accepted by score_benchmark, and the dispatcher (usage error for unknown names).
const std::vector<std::string>& score_benchmarks();
ScoreReport score_benchmark(const ScoreOptions& o);

}  // namespace imp::eval
