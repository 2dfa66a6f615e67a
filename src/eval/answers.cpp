// Answer-file conventions of the Python engines: chunks, model id, json.dumps spelling, answer ids,
// the MMBench tail rule; see engine.h.
#include <cstdio>
#include <random>

#include "imp/core/error.h"
#include "imp/data/conversation.h"
#include "imp/eval/engine.h"
#include "imp/eval/stopping.h"

namespace imp::eval {
namespace {

// Decodes one UTF-8 code point at s[i] (the text is valid UTF-8: the tokenizer's decode and JSON
// parsing guarantee it); advances i.
uint32_t next_code_point(const std::string& s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int n = b < 0x80 ? 0 : b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
  uint32_t cp = n == 0 ? b : b & (0x3f >> n);
  ++i;
  for (; n > 0 && i < s.size(); --n, ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3f);
  return cp;
}

void dump_string(const std::string& s, std::string& out) {
  char buf[16];
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const uint32_t cp = next_code_point(s, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {  // a UTF-16 surrogate pair, as Python's ensure_ascii writes it
      const uint32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      out += buf;
    }
  }
  out += '"';
}

void dump(const nlohmann::ordered_json& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      dump_string(it.key(), out);
      out += ": ";
      dump(it.value(), out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ", ";
      dump(j[i], out);
    }
    out += ']';
  } else if (j.is_string()) {
    dump_string(j.get<std::string>(), out);
  } else if (j.is_null()) {
    out += "null";
  } else if (j.is_boolean()) {
    out += j.get<bool>() ? "true" : "false";
  } else {
    out += j.dump();
  }
}

}  // namespace

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

std::string python_json_dumps(const nlohmann::ordered_json& j) {
  std::string out;
  dump(j, out);
  return out;
}

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
