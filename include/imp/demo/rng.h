// The demo's random numbers: std::mt19937_64 (its output sequence is fixed by the C++ standard) with
// distributions written out here, because std::uniform_int_distribution / normal_distribution differ
// between standard libraries. Same seed -> same numbers on every platform. Torch-free.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace imp::demo {

// SplitMix64 finaliser: derives independent seeds (seed, stream, index) -> seed.
uint64_t mix_seed(uint64_t seed, uint64_t stream, uint64_t index = 0);

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  uint64_t next() { return engine_(); }
  // Uniform integer in [lo, hi] (inclusive), unbiased (rejection sampling).
  int64_t uniform_int(int64_t lo, int64_t hi);
  // Uniform double in [0, 1) with 53 random bits.
  double uniform01();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  bool bernoulli(double p) { return uniform01() < p; }
  // Standard normal (Box-Muller, both values used).
  double normal();
  // Index drawn with the given (unnormalised, non-negative) weights.
  size_t weighted(const std::vector<double>& weights);
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(uniform_int(0, static_cast<int64_t>(v.size()) - 1))];
  }
  template <typename T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(uniform_int(0, i - 1))]);
  }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace imp::demo
