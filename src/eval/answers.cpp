// Answer-file conventions of the Python engines: chunks, model id, json.dumps spelling, answer ids,
// the MMBench tail rule; see engine.h.
#include <cstdio>
#include <random>

#include "imp/core/error.h"
#include "imp/data/conversation.h"
#include "imp/eval/engine.h"
#include "imp/eval/score_io.h"
#include "imp/eval/stopping.h"

namespace imp::eval {

const char* engine_name(Engine e) {
  switch (e) {
    case Engine::loader: return "loader";
    case Engine::science: return "science";
    case Engine::mmbench: return "mmbench";
  }
  return "?";
}

Engine engine_for(const std::string& benchmark, const std::string& question_file) {
  if (benchmark.empty()) {
    auto ends = [&](const std::string& ext) {
      return question_file.size() >= ext.size() &&
             question_file.compare(question_file.size() - ext.size(), ext.size(), ext) == 0;
    };
    if (ends(".tsv")) return Engine::mmbench;
    if (ends(".json")) return Engine::science;
    return Engine::loader;
  }
  for (const char* b : {"vqav2", "gqa", "vizwiz", "textvqa", "pope", "mme", "mmvet", "loader"})
    if (benchmark == b) return Engine::loader;
  if (benchmark == "sqa" || benchmark == "science") return Engine::science;
  if (benchmark == "mmbench" || benchmark == "mmbench_cn") return Engine::mmbench;
  throw Error("--benchmark '" + benchmark +
                  "' is unknown; expected vqav2, gqa, vizwiz, textvqa, pope, mme, mmvet (model_vqa_loader), sqa "
                  "(model_vqa_science) or mmbench, mmbench_cn (model_vqa_mmbench)",
              ErrorKind::usage);
}

std::pair<size_t, size_t> chunk_range(size_t n, int64_t chunks, int64_t k) {
  IMP_CHECK_KIND(chunks >= 1, ErrorKind::usage, "--num-chunks must be >= 1, got ", chunks);
  IMP_CHECK_KIND(k >= 0 && k < chunks, ErrorKind::usage, "--chunk-idx must be in [0, ", chunks, "), got ", k);
  const size_t size = (n + static_cast<size_t>(chunks) - 1) / static_cast<size_t>(chunks);
  const size_t begin = std::min(n, size * static_cast<size_t>(k));
  return {begin, std::min(n, begin + size)};
}

std::string model_name_from_path(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  size_t start = 0;
  while (start < p.size() && p[start] == '/') ++start;
  p = p.substr(start);
  const size_t cut = p.rfind('/');
  const std::string last = cut == std::string::npos ? p : p.substr(cut + 1);
  if (last.rfind("checkpoint-", 0) == 0 && cut != std::string::npos) {
    const std::string parent = p.substr(0, cut);
    const size_t c2 = parent.rfind('/');
    return (c2 == std::string::npos ? parent : parent.substr(c2 + 1)) + "_" + last;
  }
  return last;
}

std::string python_json_dumps(const nlohmann::ordered_json& j) { return py_json_dumps(j); }

std::string finish_answer(Engine engine, const std::string& conv_mode, const std::string& text) {
  if (engine != Engine::mmbench) return text;
  const auto& t = data::get_template(conv_mode);
  const std::string& stop = t.style == data::Style::two ? t.sep2 : t.sep;
  std::string out = text;
  if (!stop.empty() && out.size() >= stop.size() && out.compare(out.size() - stop.size(), stop.size(), stop) == 0)
    out.resize(out.size() - stop.size());
  return strip(out);
}

}  // namespace imp::eval
