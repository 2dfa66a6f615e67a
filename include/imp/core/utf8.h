// UTF-8 encoding of one code point and strict validation, shared by the tokenizer engine, the
// Python-string helpers of the scorers and the TSV reader. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imp {

void append_utf8(std::string& out, uint32_t cp);

// Length of the valid prefix of the sequence at s[i] (0 if s[i] cannot start one) and whether the
// whole sequence is valid. This is the "maximal subpart" rule of Unicode 3.9 that Rust and Python
// both use, so one U+FFFD replaces exactly what they replace.
struct Utf8Seq {
  size_t consumed;  // bytes belonging to the (possibly truncated) sequence, >= 1
  bool valid;
};
Utf8Seq utf8_sequence(std::string_view s, size_t i);

// Offset of the first byte that makes `s` invalid UTF-8 (overlongs, surrogates and values above
// U+10FFFF are invalid), or std::string_view::npos when it is valid.
size_t find_invalid_utf8(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return find_invalid_utf8(s) == std::string_view::npos; }

}  // namespace imp
