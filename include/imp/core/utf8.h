// UTF-8 encoding of one code point, shared by the tokenizer engine and the Python-string helpers of the
// scorers. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace imp {

void append_utf8(std::string& out, uint32_t cp);

}  // namespace imp
