// Stop criteria of generation; see stopping.h.
#include "imp/eval/stopping.h"

#include <algorithm>

#include "imp/core/fs.h"
#include "imp/core/json.h"

namespace imp::eval {
namespace {

// UTF-8 encodings of the characters Python's str.isspace() accepts besides ASCII whitespace.
const char* const kUnicodeSpaces[] = {
    "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83",
    "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a",
    "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};

size_t space_prefix(const std::string& s, size_t at) {
  const char c = s[at];
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f')) return 1;
  for (const char* u : kUnicodeSpaces) {
    const std::string_view v(u);
    if (s.compare(at, v.size(), v) == 0) return v.size();
  }
  return 0;
}

size_t space_suffix(const std::string& s, size_t end) {
  const char c = s[end - 1];
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f')) return 1;
  for (const char* u : kUnicodeSpaces) {
    const std::string_view v(u);
    if (end >= v.size() && s.compare(end - v.size(), v.size(), v) == 0) return v.size();
  }
  return 0;
}

}  // namespace

GenerationIds read_generation_ids(const std::string& model_dir) {
  GenerationIds out;
  for (const JsonLimits& kind : {json_limits::generation_config, json_limits::model_config}) {
    const std::string path = join_path(model_dir, kind.what);
    if (!path_exists(path) || is_directory(path)) continue;
    const Json j = read_json_file(path, kind);
    auto eos = json_int_list(j, "eos_token_id", path);
    auto pad = json_int_list(j, "pad_token_id", path);
    if (eos.empty() && !j.contains("eos_token_id") && !j.contains("pad_token_id")) continue;
    out.eos = eos;
    if (!pad.empty()) out.pad = pad[0];
    return out;
  }
  return out;
}

KeywordStop::KeywordStop(std::vector<std::string> keywords, const text::Tokenizer& tok)
    : keywords_(std::move(keywords)) {
  for (const auto& k : keywords_) {
    IMP_CHECK_KIND(!k.empty(), ErrorKind::usage, "a stop string must not be empty");
    auto ids = tok.encode(k, /*add_special_tokens=*/true);
    if (ids.size() > 1 && tok.special.bos && ids[0] == *tok.special.bos) ids.erase(ids.begin());
    max_len_ = std::max(max_len_, ids.size());
    ids_.push_back(std::move(ids));
  }
}

bool KeywordStop::hit(const std::vector<int64_t>& generated, const text::Tokenizer& tok) const {
  if (keywords_.empty() || generated.empty()) return false;
  for (const auto& k : ids_) {
    if (!k.empty() && generated.size() >= k.size() &&
        std::equal(k.begin(), k.end(), generated.end() - static_cast<std::ptrdiff_t>(k.size())))
      return true;
  }
  const size_t n = std::min(generated.size(), max_len_);
  const std::string tail = tok.decode({generated.end() - static_cast<std::ptrdiff_t>(n), generated.end()},
                                      /*skip_special_tokens=*/true);
  for (const auto& k : keywords_)
    if (tail.find(k) != std::string::npos) return true;
  return false;
}

std::string strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e) {
    const size_t n = space_prefix(s, b);
    if (!n) break;
    b += n;
  }
  while (e > b) {
    const size_t n = space_suffix(s, e);
    if (!n) break;
    e -= n;
  }
  return s.substr(b, e - b);
}

}  // namespace imp::eval
