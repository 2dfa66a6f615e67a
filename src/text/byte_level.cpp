// The GPT-2 bytes_to_unicode table; see byte_level.h.
#include "byte_level.h"

#include "unicode.h"

namespace imp::text::detail {
namespace {

ByteLevelTable make_table() {
  ByteLevelTable t;
  t.char_to_byte.fill(-1);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    // Printable bytes stand for themselves; the rest are moved to U+0100 and up, in byte order.
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256u + static_cast<uint32_t>(n++);
    append_utf8(t.byte_to_utf8[b], cp);
    t.char_to_byte[cp] = b;
  }
  return t;
}

}  // namespace

const ByteLevelTable& byte_level_table() {
  static const ByteLevelTable table = make_table();
  return table;
}

void byte_level_encode(std::string_view s, std::string& out) {
  const ByteLevelTable& t = byte_level_table();
  out.clear();
  out.reserve(s.size() * 2);
  for (char c : s) out += t.byte_to_utf8[static_cast<unsigned char>(c)];
}

bool byte_level_decode_token(std::string_view token, std::string& out) {
  const ByteLevelTable& t = byte_level_table();
  const size_t mark = out.size();
  size_t i = 0;
  while (i < token.size()) {
    const size_t n = utf8_len(static_cast<unsigned char>(token[i]));
    const uint32_t cp = decode_at(token, i);
    if (cp >= t.char_to_byte.size() || t.char_to_byte[cp] < 0) {
      out.resize(mark);
      return false;
    }
    out += static_cast<char>(t.char_to_byte[cp]);
    i += n;
  }
  return true;
}

}  // namespace imp::text::detail
