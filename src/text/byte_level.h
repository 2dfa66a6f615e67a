// GPT-2's byte <-> printable-character table (bytes_to_unicode), used by the ByteLevel
// pre-tokenizer (every byte becomes one visible character) and decoder (and back).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace imp::text::detail {

struct ByteLevelTable {
  std::array<std::string, 256> byte_to_utf8;  // UTF-8 of the character standing for each byte
  std::array<int, 324> char_to_byte;          // code point (< 324) -> byte, -1 when not in the table
};

const ByteLevelTable& byte_level_table();

// Maps every byte of `s` to its character.
void byte_level_encode(std::string_view s, std::string& out);
// The bytes of `token` if every character is in the table; otherwise false (tokenizers then keeps
// the token's own UTF-8, e.g. for added tokens made of plain spaces).
bool byte_level_decode_token(std::string_view token, std::string& out);

}  // namespace imp::text::detail
