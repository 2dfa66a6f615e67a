// UTF-8 and Unicode helpers for the tokenizer: strict validation, Rust-compatible lossy decoding,
// character classes as `tokenizers` (Rust) defines them, and Unicode normalization via utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "imp/core/utf8.h"

namespace imp::text::detail {

// Byte length of the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte, so
// loops over valid text always advance).
inline size_t utf8_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

using ::imp::find_invalid_utf8;  // imp/core/utf8.h
using ::imp::is_valid_utf8;

// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD, which is what
// `tokenizers`' ByteLevel decoder returns for byte tokens that do not form whole characters.
std::string utf8_lossy(std::string_view bytes);

// Decodes the code point at s[i] (s must be valid UTF-8 there).
uint32_t decode_at(std::string_view s, size_t i);
using ::imp::append_utf8;  // imp/core/utf8.h

// Rust char::is_whitespace (the Unicode White_Space property), which is also what Oniguruma's \s
// and Rust regex's \s match.
bool is_white_space(uint32_t cp);
// Rust regex \w (alphabetic, marks, decimal digits, connector punctuation, joiners); used by
// single_word added tokens. Approximated from general categories (Other_Alphabetic symbols such
// as circled letters are not word characters here).
bool is_word_char(uint32_t cp);
// Rust char::is_numeric: general categories Nd, Nl, No.
bool is_numeric(uint32_t cp);

enum class NormalForm { nfc, nfd, nfkc, nfkd };
// Normalizes valid UTF-8 text; ASCII-only text is returned unchanged without calling utf8proc.
std::string normalize_unicode(std::string_view s, NormalForm form);

}  // namespace imp::text::detail
