// Small string helpers shared across modules. Torch-free, header-only.
#pragma once

#include <string_view>

namespace imp {

// C++20's std::string::starts_with, for this C++17 code base.
inline bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace imp
