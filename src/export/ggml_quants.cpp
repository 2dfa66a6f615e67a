// ggml tensor encodings; see imp/export/ggml_quants.h.
#include "imp/export/ggml_quants.h"

#include <cmath>
#include <cstring>

#include "imp/core/error.h"

namespace imp::gguf {

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                                              // below the smallest normal: subnormal
    float a;
    std::memcpy(&a, &abs, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));  // a / 2^-24
  }
  const uint32_t mant_odd = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xfffu + mant_odd;  // round to nearest even at bit 13
  return static_cast<uint16_t>(sign | (((rounded - 0x38000000u) >> 13) & 0x7fffu));
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  float out;
  if (exp == 0) {
    out = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -out : out;
  }
  const uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (mant << 13)) : (sign | ((exp + 112) << 23) | (mant << 13));
  std::memcpy(&out, &bits, 4);
  return out;
}

size_t block_size(TensorType t) { return t == TensorType::Q8_0 || t == TensorType::Q4_0 ? 32 : 1; }

namespace {

void put_f16(std::vector<uint8_t>& out, float v) {
  const uint16_t h = f32_to_f16(v);
  out.push_back(static_cast<uint8_t>(h & 0xff));
  out.push_back(static_cast<uint8_t>(h >> 8));
}

// ggml's roundf: half away from zero.
float round_half_away(float v) { return std::round(v); }

}  // namespace

std::vector<uint8_t> encode(const float* x, size_t n, TensorType type) {
  std::vector<uint8_t> out;
  switch (type) {
    case TensorType::F32:
      out.resize(n * 4);
      std::memcpy(out.data(), x, n * 4);  // the hosts imp supports are little-endian
      return out;
    case TensorType::F16:
      out.reserve(n * 2);
      for (size_t i = 0; i < n; ++i) put_f16(out, x[i]);
      return out;
    case TensorType::Q8_0:
    case TensorType::Q4_0: break;
  }
  IMP_CHECK(n % 32 == 0, "gguf: ", type_name(type), " needs a multiple of 32 values per row, got ", n);
  out.reserve(n / 32 * (type == TensorType::Q8_0 ? 34 : 18));
  for (size_t b = 0; b < n; b += 32) {
    const float* v = x + b;
    if (type == TensorType::Q8_0) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
      const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
      put_f16(out, d);
      for (int i = 0; i < 32; ++i) out.push_back(static_cast<uint8_t>(static_cast<int8_t>(round_half_away(v[i] * id))));
    } else {
      float amax = 0, max = 0;
      for (int i = 0; i < 32; ++i)
        if (std::fabs(v[i]) > amax) amax = std::fabs(v[i]), max = v[i];
      const float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
      put_f16(out, d);
      auto q = [&](int i) { return static_cast<uint8_t>(std::min(15.0f, std::trunc(v[i] * id + 8.5f))); };
      for (int j = 0; j < 16; ++j) out.push_back(static_cast<uint8_t>(q(j) | (q(j + 16) << 4)));
    }
  }
  return out;
}

}  // namespace imp::gguf
