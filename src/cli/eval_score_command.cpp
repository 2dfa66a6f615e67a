// `imp eval score` (benchmark scorers) and `imp eval convert` (submission writers); the scoring
// itself lives in the torch-free imp_score library (include/imp/eval/score*.h).
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "imp/cli/registry.h"
#include "imp/core/fs.h"
#include "imp/eval/score.h"
#include "imp/eval/score_convert.h"

namespace imp::cli {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : " | ") + n;
  return s;
}

void write_creating_dirs(const std::string& path, const std::string& content) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  atomic_write(path, content);
}

constexpr const char* kScoreHelp = R"(Inputs per benchmark (paths as in playground/README.md):
  textvqa  --annotation-file TextVQA_0.5.1_val.json
  pope     --annotation-dir pope/coco  --question-file pope/llava_pope_test.jsonl
  mme      --base-dir MME/MME_Benchmark_release_version  [--mme-results-dir DIR]
  sqa      --base-dir scienceqa (pid_splits.json, problems.json)  [--split test]
  gqa      --question-file gqa/data/testdev_balanced_questions.json
  vqav2    --annotation-file v2_mscoco_val2014_annotations.json (local val scoring)
  vizwiz   --annotation-file val.json  [--question-file <questions .jsonl>] (local val scoring)
Metrics go to stdout as JSON (and to --output), a table to stderr.)";

constexpr const char* kConvertHelp = R"(Formats (what LLaVA's converter scripts write):
  vqav2    --question-file vqav2/llava_vqav2_mscoco_test2015.jsonl  -> EvalAI JSON
  vizwiz   --question-file vizwiz/llava_test.jsonl                   -> EvalAI JSON
  gqa      -> testdev_balanced_predictions.json for GQA's eval.py
  mmvet    -> {"v1_<id>": answer} for the MM-Vet grader
  mmbench  --question-file mmbench/mmbench_dev_20230712.tsv           -> .xlsx (or .tsv/.csv by --output))";

}  // namespace

void add_eval_score_command(CLI::App& eval, Commands& out) {
  auto so = std::make_shared<eval::ScoreOptions>();
  auto score_output = std::make_shared<std::string>();
  auto summary = std::make_shared<std::string>();
  auto* c = eval.add_subcommand("score", "Score a merged answers JSONL exactly like the benchmark's official script");
  c->footer(kScoreHelp);
  c->add_option("--benchmark", so->benchmark, joined(eval::score_benchmarks()))->required();
  c->add_option("--answers", so->answers, "merged answers JSONL (imp eval / model_vqa_loader output)")->required();
  c->add_option("--question-file", so->question_file, "question file (pope, gqa, vizwiz)");
  c->add_option("--annotation-file", so->annotation_file, "annotations (textvqa, vqav2, vizwiz)");
  c->add_option("--annotation-dir", so->annotation_dir, "POPE label directory (coco_pope_<split>.json)");
  c->add_option("--base-dir", so->base_dir, "ScienceQA data dir, or MME_Benchmark_release_version");
  c->add_option("--split", so->split, "ScienceQA split in pid_splits.json")->capture_default_str();
  c->add_option("--mme-results-dir", so->mme_results_dir, "MME: also write eval_tool's <category>.txt files here");
  c->add_option("--output", *score_output, "also write the metrics JSON to this file");
  c->add_option("--summary", *summary, "write \"<benchmark>\\t<headline number>\" here (read by scripts/eval/all.sh)");
  out.push_back({c, [so, score_output, summary]() {
                   const eval::ScoreReport r = eval::score_benchmark(*so);
                   std::cerr << r.table;
                   std::cout << r.metrics.dump(2) << "\n";
                   if (!score_output->empty()) write_creating_dirs(*score_output, r.metrics.dump(2) + "\n");
                   if (!summary->empty())
                     write_creating_dirs(*summary, so->benchmark + "\t" +
                                                       (r.headline ? std::to_string(*r.headline) : std::string("n/a")) + "\n");
                   return 0;
                 }});

  auto co = std::make_shared<eval::ConvertOptions>();
  auto* v = eval.add_subcommand("convert", "Write a submission file for an evaluation server from merged answers");
  v->footer(kConvertHelp);
  v->add_option("--benchmark", co->benchmark, joined(eval::convert_benchmarks()))->required();
  v->add_option("--answers", co->answers, "merged answers JSONL")->required();
  v->add_option("--question-file", co->question_file, "test question file (vqav2, vizwiz) or MMBench TSV");
  v->add_option("--output", co->output, "submission file to write")->required();
  out.push_back({v, [co]() {
                   const std::string summary = eval::write_submission(*co);
                   std::cerr << co->benchmark << ": " << summary << " -> " << co->output << "\n";
                   return 0;
                 }});
}

}  // namespace imp::cli
