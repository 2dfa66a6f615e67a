// Little-endian integer loads from bytes whose bounds the caller has checked (internal to src/io).
#pragma once

#include <cstdint>

namespace imp {

inline uint64_t load_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace imp
