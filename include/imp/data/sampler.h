// Sample order per epoch: sequential, random, or LLaVA's modality-grouped order (same algorithm as
// llava_trainer.get_modality_length_grouped_indices, with imp's own seeded RNG instead of torch's
// global one), and each rank's share of it. Pure functions of (seed, epoch), so a run resumes at any
// (epoch, position). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imp::data {

enum class SamplerKind { sequential, random, modality_grouped };
SamplerKind parse_sampler(const std::string& name);  // "sequential" | "random" | "modality_grouped"

// The global order of one epoch. batch_size is per device; lengths are modality lengths (>0 image,
// <0 text-only), needed by modality_grouped.
std::vector<int64_t> epoch_order(SamplerKind kind, size_t n, uint64_t seed, int64_t epoch,
                                 const std::vector<int64_t>& lengths, int64_t batch_size, int64_t world_size);

// Rank r's batches: the global order cut into batches of batch_size, batch k going to rank
// k % world_size (accelerate's BatchSamplerShard). A partial last round is completed with samples
// from the start of the order (accelerate's even_batches), so every rank takes the same number of steps.
std::vector<std::vector<int64_t>> rank_batches(const std::vector<int64_t>& order, int64_t batch_size,
                                               int64_t rank, int64_t world_size);

// Deterministic 64-bit generator (SplitMix64 seeding + xoshiro256**): the same stream on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  uint64_t below(uint64_t n);  // uniform in [0, n), no modulo bias
  std::vector<int64_t> permutation(size_t n);

 private:
  uint64_t s_[4];
};

}  // namespace imp::data
