// Data-parallel collectives for the trainer: a thin, timeout-bounded wrapper over a c10d backend (Gloo on
// CPU, NCCL on CUDA where LibTorch has it). The c10d headers stay in src/dist/process_group.cpp.
//
// Failure contract: rendezvous and every collective are bounded by the timeout given to create(); a peer
// that dies or hangs makes the others throw imp::Error (kind io) naming the collective and the `what`
// label, never hang. Configuration conflicts (WORLD_SIZE differs between ranks, two processes with one
// RANK, a CUDA device without NCCL) throw imp::Error (kind usage).
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "imp/dist/launch_env.h"

namespace imp::dist {

// A collective started by one of ProcessGroup's *_async calls; wait() blocks until it is done (bounded by
// the group's timeout) and throws imp::Error naming it on failure. Waiting twice is a no-op.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
};

// The c10d backends compiled in, e.g. "Gloo, NCCL 2.30.7" ("none" without either).
std::string compiled_backends();

class ProcessGroup {  // world_size 1: no c10d at all, every collective is a no-op
 public:
  // Gloo on CPU, NCCL for CUDA devices (only where LibTorch was built with NCCL: USE_C10D_NCCL);
  // TCPStore hosted by rank 0, or, under torchrun's agent store (info.agent_store), every rank is a
  // client with PrefixStore("/worker/attempt_<restart_count>") as torch.distributed does.
  static std::shared_ptr<ProcessGroup> create(const LaunchInfo& info, const torch::Device& device,
                                              std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_main() const { return rank_ == 0; }
  const std::string& backend() const;  // "none" (world 1) | "gloo" | "nccl"

  // Tensors may differ in shape and dtype: they are flattened per dtype into one buffer per call.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what = "all_reduce");
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0, const std::string& what = "broadcast");
  void barrier(const std::string& what = "barrier");
  double all_reduce_max(double v, const std::string& what = "all_reduce_max");
  double all_reduce_sum(double v, const std::string& what = "all_reduce_sum");

  // Sum of every tensor's .grad() across ranks, in place, in buckets of ~bucket_bytes (flattened per dtype,
  // deterministic bucket order = order of `params`). A param whose grad is undefined on every rank is
  // skipped; one whose grad is defined on some ranks only gets a zero grad on the others first (one small
  // extra all_reduce per call finds out which), so all ranks always reduce the same buckets.
  void all_reduce_grads(const std::vector<torch::Tensor>& params, size_t bucket_bytes = 25u << 20);

  // Asynchronous collectives on one contiguous tensor (the caller keeps the tensors alive until wait()).
  // World size 1: done at once. reduce_scatter: `flat` (numel = size() * shard.numel()) is summed over
  // ranks and this rank's slice [rank * n, (rank + 1) * n) lands in `shard` (on LibTorch 1.x, whose Gloo
  // has no reduce_scatter, an all_reduce of `flat` followed by that slice).
  std::unique_ptr<PendingCollective> all_reduce_async(torch::Tensor flat, const std::string& what);
  std::unique_ptr<PendingCollective> reduce_scatter_async(torch::Tensor flat, torch::Tensor shard,
                                                          const std::string& what);
  // Every rank's `shard` into `flat` (numel = size() * shard.numel()), rank order; blocking.
  void all_gather(const torch::Tensor& shard, torch::Tensor& flat, const std::string& what);

  struct Impl;  // c10d state, defined in process_group.cpp

 private:
  ProcessGroup(int rank, int size, std::unique_ptr<Impl> impl);
  void reduce_buckets(std::vector<torch::Tensor>& tensors, size_t bucket_bytes, const std::string& what, int root);

  int rank_ = 0, size_ = 1;
  std::unique_ptr<Impl> impl_;  // null for world size 1
};

}  // namespace imp::dist
