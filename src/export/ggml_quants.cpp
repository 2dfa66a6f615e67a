// ggml tensor encodings; see imp/export/ggml_quants.h.
#include "imp/export/ggml_quants.h"

#include <algorithm>
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

size_t block_size(TensorType t) {
  switch (t) {
    case TensorType::Q8_0:
    case TensorType::Q4_0: return 32;
    case TensorType::Q4_K: return 256;
    default: return 1;
  }
}

bool is_quantized(TensorType t) { return block_size(t) > 1; }

TensorType row_type(TensorType want, int64_t row) {
  if (row % static_cast<int64_t>(block_size(want)) == 0) return want;
  if (want == TensorType::Q4_K && row % 32 == 0) return TensorType::Q8_0;
  return TensorType::F16;
}

namespace {

void put_u16(std::vector<uint8_t>& out, uint16_t h) {
  out.push_back(static_cast<uint8_t>(h & 0xff));
  out.push_back(static_cast<uint8_t>(h >> 8));
}

void put_f16(std::vector<uint8_t>& out, float v) { put_u16(out, f32_to_f16(v)); }

// ggml's roundf: half away from zero.
float round_half_away(float v) { return std::round(v); }

// ggml's nearest_int: to nearest, ties to even (the default rounding mode).
int nearest(float v) { return static_cast<int>(std::nearbyint(v)); }

// One Q4_K sub-block of 32 values: the scale s and offset m (>= 0) of x ~ s * L - m with L in 0..15 that
// minimise the error weighted by w. Starts from the grid over [min(x, 0), max(x)], then fits s and m by
// weighted least squares to the levels of 21 slightly stretched grids, each from the best fit so far, and keeps
// the best (ggml's make_qkx2_quants with Q4_K's settings, float operations in the reference's order: the same
// bytes).
float fit_subblock(const float* x, const float* w, uint8_t* L, float& offset) {
  constexpr int kMax = 15, kSteps = 20;
  constexpr float kFirst = -1.0f, kDelta = 0.1f;
  float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < 32; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  min = std::min(min, 0.0f);
  if (max == min) {
    std::fill(L, L + 32, uint8_t{0});
    offset = -min;
    return 0.0f;
  }
  auto level = [&](float inv, float v) { return static_cast<uint8_t>(std::clamp(nearest(inv * (v - min)), 0, kMax)); };
  float inv = kMax / (max - min), scale = 1 / inv, best = 0;
  for (int i = 0; i < 32; ++i) {
    L[i] = level(inv, x[i]);
    const float diff = scale * L[i] + min - x[i];
    best += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  for (int step = 0; step <= kSteps; ++step) {
    inv = (kFirst + kDelta * step + kMax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < 32; ++i) {
      trial[i] = level(inv, x[i]);
      const float l = trial[i];
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float s = (sum_w * sum_xl - sum_x * sum_l) / det, m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (m > 0) m = 0, s = sum_xl / sum_l2;
    float err = 0;
    for (int i = 0; i < 32; ++i) {
      const float diff = s * trial[i] + m - x[i];
      err += w[i] * (diff * diff);
    }
    if (err < best) {
      std::copy(trial, trial + 32, L);
      best = err, scale = s, min = m;
    }
  }
  offset = -min;
  return scale;
}

// Q4_K, 256 values in 144 bytes: f16 d, f16 dmin, the 6-bit scale and offset of each of the 8 sub-blocks
// (12 bytes: sub-blocks 0-3 in the low 6 bits of bytes 0-3 / 4-7, 4-7 split into nibbles in bytes 8-11 and
// the top 2 bits of bytes 0-7), then 128 bytes of levels (byte l of each 32-byte run = sub-block 2k's value l in
// the low nibble, sub-block 2k+1's in the high one). A value is d * scale_j * L - dmin * offset_j.
void encode_q4_k(const float* x, std::vector<uint8_t>& out) {
  uint8_t L[256], packed[12] = {};
  float scales[8], offsets[8], w[32], max_scale = 0, max_offset = 0;
  for (int j = 0; j < 8; ++j) {
    const float* v = x + 32 * j;
    float sum_x2 = 0;
    for (int i = 0; i < 32; ++i) sum_x2 += v[i] * v[i];
    const float av = std::sqrt(sum_x2 / 32);
    for (int i = 0; i < 32; ++i) w[i] = av + std::fabs(v[i]);
    scales[j] = fit_subblock(v, w, L + 32 * j, offsets[j]);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (offsets[j] > max_offset) max_offset = offsets[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f, inv_offset = max_offset > 0 ? 63.0f / max_offset : 0.0f;
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(std::min(63, nearest(inv_scale * scales[j])));
    mn[j] = static_cast<uint8_t>(std::min(63, nearest(inv_offset * offsets[j])));
    if (j < 4) {
      packed[j] = sc[j], packed[j + 4] = mn[j];
    } else {
      packed[j + 4] = static_cast<uint8_t>((sc[j] & 0xf) | ((mn[j] & 0xf) << 4));
      packed[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
  const uint16_t d = f32_to_f16(max_scale / 63.0f), dmin = f32_to_f16(max_offset / 63.0f);
  // The levels again, against the scales as stored (a sub-block whose stored scale is 0 keeps its fit's).
  for (int j = 0; j < 8; ++j) {
    const float step = f16_to_f32(d) * sc[j];
    if (step == 0) continue;
    const float off = f16_to_f32(dmin) * mn[j];
    for (int i = 0; i < 32; ++i)
      L[32 * j + i] = static_cast<uint8_t>(std::clamp(nearest((x[32 * j + i] + off) / step), 0, 15));
  }
  put_u16(out, d);
  put_u16(out, dmin);
  out.insert(out.end(), packed, packed + 12);
  for (int j = 0; j < 256; j += 64)
    for (int i = 0; i < 32; ++i) out.push_back(static_cast<uint8_t>(L[j + i] | (L[j + i + 32] << 4)));
}

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
    case TensorType::Q4_K:
      IMP_CHECK(n % 256 == 0, "gguf: q4_k needs a multiple of 256 values per row, got ", n);
      out.reserve(n / 256 * 144);
      for (size_t b = 0; b < n; b += 256) encode_q4_k(x + b, out);
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
