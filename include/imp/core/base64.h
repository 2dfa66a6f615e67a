// RFC 4648 base64 decoding, shared by imp serve's data: URLs and the base64 images of MMBench TSVs.
// Torch-free (fuzzed through both parsers).
#pragma once

#include <string>
#include <string_view>

namespace imp {

// The decoded bytes, or `error` saying what is wrong ("unexpected character at offset 12").
struct Base64 {
  std::string bytes;
  std::string error;  // empty on success
};

// Standard and URL-safe alphabets; up to two '=' of padding, optional, only at the end. With
// `skip_whitespace` line breaks and blanks anywhere are ignored (wrapped base64), else they are errors.
Base64 decode_base64(std::string_view in, bool skip_whitespace = false);

}  // namespace imp
