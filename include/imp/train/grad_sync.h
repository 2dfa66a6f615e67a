// Gradient communication of a data-parallel step, in buckets that start while backward still runs.
//
// The trainable parameters are cut into buckets (one dtype each, ~bucket_bytes, in reverse parameter order:
// the order backward finishes them). Before the last micro-batch's backward, arm() hooks every parameter's
// gradient accumulation (LibTorch 2.1+: post-accumulate-grad hooks); as soon as every gradient of the next
// bucket in order is final, its flattened copy goes out asynchronously, so communication overlaps the rest of
// backward. Buckets start in the same fixed order on every rank (a c10d requirement). Accumulation
// micro-steps communicate nothing. finish() starts what is left (a parameter without a gradient on this rank
// gets zeros) and waits. Without the hooks (LibTorch 1.x) every bucket starts in finish(): same results,
// no overlap. IMP_GRAD_SYNC=after_backward forces that schedule (benchmarks, tests).
//
// A parameter whose gradient may be accumulated several times in one backward (lm_head and its LoRA under the
// chunked, recomputed loss: one accumulation per chunk; a tied embedding) is "late": it gets no hook and its
// buckets, placed after all others, start in finish().
//
// Stage 0 (plain data parallel): all_reduce; after finish() every .grad holds the sum over ranks.
// Stage 1 (ZeRO-1): reduce_scatter; each bucket is padded to a multiple of the world size and rank r owns
// the r-th 1/world slice of it; after finish() shard(b) holds the sum over ranks of this rank's slice of
// bucket b and the full local gradients are released.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/dist/process_group.h"

namespace imp::train {

// Whether this LibTorch can start buckets during backward.
bool grad_hooks_available();

struct GradBucket {
  std::vector<size_t> params;     // indices into the parameter list, in flat order
  std::vector<int64_t> offsets;   // flat offset of each member
  int64_t numel = 0;              // sum of the members' elements
  int64_t padded = 0;             // numel rounded up to a multiple of the world size
  torch::ScalarType dtype = torch::kFloat32;
  int64_t shard_numel() const;    // padded / world
  int world = 1;
};

// The bucket layout of `params` (deterministic: the same on every rank); the `late` ones (may be empty: none)
// in buckets of their own after the others.
std::vector<GradBucket> make_buckets(const std::vector<torch::Tensor>& params, size_t bucket_bytes, int world,
                                     const std::vector<bool>& late = {});

class GradSync {
 public:
  GradSync(std::vector<torch::Tensor> params, dist::ProcessGroup& pg, int zero_stage, size_t bucket_bytes = 25u << 20,
           std::vector<bool> late = {});
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  void arm();     // before the backward of the step's last micro-batch
  void finish();  // after it: see above
  // Appended to the label of each collective in errors, e.g. " at step 3".
  void set_label(const std::string& at) { label_ = at; }

  const std::vector<GradBucket>& buckets() const { return buckets_; }
  torch::Tensor& shard(size_t b) { return shards_[b]; }  // stage 1, after finish()
  int overlapped_buckets() const { return overlapped_; }  // buckets started during backward, last step

  void on_ready(size_t param);  // called by the hooks

 private:
  void launch_ready_locked();
  void launch_locked(size_t b);

  std::vector<torch::Tensor> params_;
  dist::ProcessGroup& pg_;
  int stage_;
  std::vector<GradBucket> buckets_;
  std::vector<bool> late_;                  // param -> accumulated more than once: started in finish()
  std::vector<size_t> bucket_of_;           // param -> bucket
  std::vector<int64_t> waiting_;            // per bucket: members whose gradient is not final yet
  std::vector<torch::Tensor> flats_, shards_;
  std::vector<std::unique_ptr<dist::PendingCollective>> pending_;
  size_t next_ = 0;                         // the next bucket to start
  bool armed_ = false, hooked_ = false;
  int overlapped_ = 0;
  std::string label_;
  std::mutex mu_;
};

}  // namespace imp::train
