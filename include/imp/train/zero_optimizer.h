// ZeRO stage 1 (PyTorch's ZeroRedundancyOptimizer / DeepSpeed stage 1 semantics) on GradSync's buckets:
// each rank keeps fp32 master weights and AdamW moments for its 1/world slice of every bucket, updates that
// slice from the reduce-scattered gradient shard (element for element the same operations as AdamW), and the
// parameters are all-gathered afterwards. Parameters may be half precision (their masters stay fp32).
//
// Checkpoints: every rank saves shard_state() (optimizer_shard_<rank>.safetensors), rank 0 the layout()
// (zero_layout.json). A resume with the same layout loads the rank's own shard; any other (another world
// size, or an unsharded run) goes through full_state_from_shards(), the AdamW format plus master/<name>.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/core/json.h"
#include "imp/dist/process_group.h"
#include "imp/io/state_dict.h"
#include "imp/train/grad_sync.h"
#include "imp/train/optimizer.h"

namespace imp::train {

class ShardedAdamW {
 public:
  // `initial` holds the fp32 values to start the masters from (the parameters themselves when they are fp32).
  ShardedAdamW(std::vector<NamedParam> params, std::vector<ParamGroup> groups, AdamWOptions o, GradSync& sync,
               dist::ProcessGroup& pg, const std::vector<torch::Tensor>& initial);

  void scale_grads(double factor);
  // The L2 norm of the whole (summed) gradient; clips like clip_grad_norm when max_norm > 0 and it is finite.
  double clip_grad_norm(double max_norm);
  void step(double lr_factor);  // AdamW on the owned slices, then all_gather of the parameters

  Json layout() const;
  StateDict shard_state() const;  // exp_avg/<b>, exp_avg_sq/<b>, master/<b>, step
  void load_shard_state(const StateDict& sd, const std::string& origin);
  // AdamW format ("exp_avg/<name>", "exp_avg_sq/<name>", "step/<name>"), optionally "master/<name>" (else the
  // parameter's current value).
  void load_full_state(const StateDict& full, const std::string& origin);

 private:
  struct Segment {
    size_t param;
    int64_t param_offset, shard_offset, length;
  };
  std::vector<NamedParam> params_;
  std::vector<ParamGroup> groups_;
  AdamWOptions o_;
  GradSync& sync_;
  dist::ProcessGroup& pg_;
  std::vector<std::vector<Segment>> segments_;  // per bucket, this rank's
  std::vector<torch::Tensor> master_, exp_avg_, exp_avg_sq_;
  int64_t step_ = 0;
};

// The AdamW-format state (plus master/<name>) from the shard files of a checkpoint with `layout`
// (shards[r] = rank r's shard_state()).
StateDict full_state_from_shards(const Json& layout, const std::vector<StateDict>& shards, const std::string& origin);

}  // namespace imp::train
