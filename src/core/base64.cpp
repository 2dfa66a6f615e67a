// See base64.h.
#include "imp/core/base64.h"

#include <cstdint>

namespace imp {
namespace {

int value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

bool blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

Base64 decode_base64(std::string_view in, bool skip_whitespace) {
  Base64 r;
  r.bytes.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  size_t digits = 0, padding = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (skip_whitespace && blank(c)) continue;
    const int v = value(c);
    if (c == '=' && padding < 2) {
      ++padding;
      continue;
    }
    if (v < 0 || padding > 0) {
      r.error = "unexpected character at offset " + std::to_string(i);
      return r;
    }
    ++digits;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      r.bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (digits % 4 == 1) r.error = "bad length";
  return r;
}

}  // namespace imp
