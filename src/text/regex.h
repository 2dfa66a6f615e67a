// A compiled PCRE2 pattern with the matching rules of `tokenizers`' Oniguruma regexes: \s and \S
// mean Unicode White_Space (PCRE2 alone also counts U+180E), ^ and $ match at line breaks (Ruby
// syntax), and find_all skips an empty match that directly follows the previous match. Compiled
// once, then shared by all threads (PCRE2 code is read-only during matching).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_access.h"

namespace imp::text::detail {

struct Span {
  size_t start, end;
};

class Regex {
 public:
  // `literal` matches the text as is (tokenizers' {"String": ...} patterns). Errors name `origin`.
  Regex(const std::string& pattern, bool literal, const std::string& origin);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // All non-overlapping matches in valid UTF-8 `s`, left to right.
  std::vector<Span> find_all(std::string_view s) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::unique_ptr<Code> code_;
  std::string pattern_, origin_;
};

// A {"String": "..."} or {"Regex": "..."} pattern object of tokenizer.json.
std::unique_ptr<Regex> regex_from_json(const Json& j, const Where& w);

// tokenizers' Pattern::find_matches: the pieces of `s` covering it completely, each flagged as a
// match or not (a lone unmatched piece for an empty string).
std::vector<std::pair<Span, bool>> matches_to_pieces(std::string_view s, const std::vector<Span>& matches);

}  // namespace imp::text::detail
