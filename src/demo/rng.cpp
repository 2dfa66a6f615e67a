// Distributions of the demo RNG (see rng.h for why they are written out).
#include "imp/demo/rng.h"

#include <cmath>

#include "imp/core/error.h"

namespace imp::demo {

uint64_t mix_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1) + 0xD1B54A32D192ED03ull * index;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t Rng::uniform_int(int64_t lo, int64_t hi) {
  IMP_CHECK(lo <= hi, "Rng::uniform_int: empty range [", lo, ", ", hi, "]");
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<int64_t>(next());
  const uint64_t n = span + 1;
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);  // accept x < limit: every residue equally often
  uint64_t x = next();
  while (x >= limit) x = next();
  return lo + static_cast<int64_t>(x % n);
}

double Rng::uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double pi = 3.14159265358979323846;
  double u1 = uniform01();
  while (u1 <= 0.0) u1 = uniform01();
  const double u2 = uniform01();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * pi * u2);
}

size_t Rng::weighted(const std::vector<double>& weights) {
  double total = 0.0;
  for (double w : weights) total += w;
  IMP_CHECK(total > 0.0, "Rng::weighted: weights sum to ", total);
  double x = uniform01() * total;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (x < weights[i]) return i;
    x -= weights[i];
  }
  return weights.size() - 1;
}

}  // namespace imp::demo
