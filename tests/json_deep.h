// Hostile JSON for the nesting-limit tests (issue #17): documents nested 100,000 levels deep, made at
// test time (a few hundred KB each, never committed).
#pragma once

#include <fstream>
#include <string>

namespace imp::test {

constexpr int kDeepLevels = 100000;

// {"a":{"a":...1...}} (objects) or [[...1...]] (arrays), `levels` deep.
inline std::string deep_json(bool objects, int levels = kDeepLevels) {
  std::string s;
  s.reserve(static_cast<size_t>(levels) * (objects ? 6 : 2) + 1);
  for (int i = 0; i < levels; ++i) s += objects ? "{\"a\":" : "[";
  s += "1";
  s.append(static_cast<size_t>(levels), objects ? '}' : ']');
  return s;
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace imp::test
