// `imp eval`: the inference engines of Imp's evaluation scripts (imp-reference 7.1) behind one
// command. Each engine turns a question file into prompts the way its Python script does
// (questions.h), generation runs batched, and the answers are JSON Lines
// in the Python scripts' format (same keys, key order and json.dumps spelling), so the existing
// conversion and scoring scripts read them unchanged. An interrupted run continues after the answers
// already in --answers-file.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imp/eval/questions.h"
#include "imp/eval/session.h"

namespace imp::eval {

const char* engine_name(Engine e);
// --benchmark NAME -> engine (vqav2, gqa, vizwiz, textvqa, pope, mme, mmvet -> loader; sqa -> science;
// mmbench, mmbench_cn -> mmbench); without a name, by the question file's extension (.tsv, .json, else
// loader). Unknown names are usage errors.
Engine engine_for(const std::string& benchmark, const std::string& question_file);

struct EvalOptions : QuestionOptions {  // --question-file, --image-folder, --all-rounds, ...
  SessionOptions session;  // --model-path, --model-base, --device, --dtype
  std::string answers_file;
  std::string conv_mode;   // empty: the decoder's own template (phi2, qwen2, phi3)
  std::string benchmark;
  double temperature = 0.2;  // the Python scripts' default; their shell scripts pass 0
  std::optional<double> top_p;
  int64_t top_k = 50;        // HF's default, used only when sampling
  int64_t num_beams = 1;
  std::optional<int64_t> max_new_tokens;  // default per engine: loader 2000, science/mmbench 1024
  int64_t num_chunks = 1, chunk_idx = 0;
  int64_t batch_size = 1;
  bool overwrite = false;    // start a new answers file instead of resuming
  uint64_t seed = 0;
};

// split_list + get_chunk: chunk_size = ceil(n / chunks); returns [begin, end) of chunk k (empty when
// k is past the last chunk, where Python raises IndexError).
std::pair<size_t, size_t> chunk_range(size_t n, int64_t chunks, int64_t k);

// mm_utils.get_model_name_from_path: the last path component, "<parent>_<last>" for checkpoint-*.
std::string model_name_from_path(const std::string& path);

// Python json.dumps(obj) of an answer line: ", " and ": " separators, non-ASCII as \uXXXX.
std::string python_json_dumps(const nlohmann::ordered_json& j);

// The final answer text of an engine: MMBench removes a trailing stop string (the template's sep2 for
// the phi2 style, else sep) and strips; Python does this with an empty stop string for qwen2/phi3 and so
// turns every answer into "" (imp-reference 8 #22) -- imp skips an empty stop string.
std::string finish_answer(Engine engine, const std::string& conv_mode, const std::string& text);

struct EvalSummary {
  size_t questions = 0;  // in this chunk
  size_t resumed = 0;    // answers already in the file
  size_t answered = 0;   // answered by this run
  int64_t new_tokens = 0;
  double seconds = 0;    // generation wall time (model loading excluded)
};

// Runs an evaluation; progress goes to `log`.
EvalSummary run_eval(const EvalOptions& o, std::ostream& log);

}  // namespace imp::eval
