#include "imp/train/grad_sync.h"

#include <cstdlib>
#include <map>

#include "imp/core/compat.h"
#include "imp/core/error.h"

#if IMP_TORCH_AT_LEAST(2, 1)
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#endif

namespace imp::train {

#if IMP_TORCH_AT_LEAST(2, 1)
namespace {
struct ReadyHook : torch::autograd::PostAccumulateGradHook {
  GradSync* sync;
  size_t index;
  ReadyHook(GradSync* s, size_t i) : sync(s), index(i) {}
  void operator()(const torch::autograd::Variable&) override { sync->on_ready(index); }
};
}  // namespace
bool grad_hooks_available() { return true; }
#else
bool grad_hooks_available() { return false; }
#endif

int64_t GradBucket::shard_numel() const { return padded / world; }

std::vector<GradBucket> make_buckets(const std::vector<torch::Tensor>& params, size_t bucket_bytes, int world,
                                     const std::vector<bool>& late) {
  std::vector<GradBucket> out;
  std::map<torch::ScalarType, GradBucket> open;
  std::map<torch::ScalarType, size_t> open_bytes;
  auto close = [&](torch::ScalarType t) {
    GradBucket b = std::move(open[t]);
    open.erase(t);
    open_bytes.erase(t);
    b.world = world;
    b.padded = (b.numel + world - 1) / world * world;
    out.push_back(std::move(b));
  };
  auto is_late = [&](size_t k) { return k < late.size() && late[k]; };
  std::vector<size_t> order;  // reverse parameter order, the late ones last
  for (size_t k = params.size(); k-- > 0;)
    if (!is_late(k)) order.push_back(k);
  const size_t n_early = order.size();
  for (size_t k = params.size(); k-- > 0;)
    if (is_late(k)) order.push_back(k);
  for (size_t j = 0; j < order.size(); ++j) {
    if (j == n_early)
      while (!open.empty()) close(open.begin()->first);  // no bucket mixes early and late parameters
    const size_t k = order[j];
    const auto& p = params[k];
    const auto t = p.scalar_type();
    const size_t bytes = static_cast<size_t>(p.numel()) * p.element_size();
    if (open.count(t) && open_bytes[t] + bytes > bucket_bytes) close(t);
    GradBucket& b = open[t];
    b.dtype = t;
    b.params.push_back(k);
    b.offsets.push_back(b.numel);
    b.numel += p.numel();
    open_bytes[t] += bytes;
  }
  while (!open.empty()) close(open.begin()->first);  // by dtype order: deterministic
  return out;
}

GradSync::GradSync(std::vector<torch::Tensor> params, dist::ProcessGroup& pg, int zero_stage, size_t bucket_bytes,
                   std::vector<bool> late)
    : params_(std::move(params)), pg_(pg), stage_(zero_stage), late_(std::move(late)) {
  IMP_CHECK(stage_ == 0 || stage_ == 1, "GradSync: ZeRO stage ", stage_, " (0 or 1)");
  late_.resize(params_.size(), false);
  buckets_ = make_buckets(params_, bucket_bytes, pg_.size(), late_);
  bucket_of_.assign(params_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (size_t i : buckets_[b].params) bucket_of_[i] = b;
  flats_.resize(buckets_.size());
  shards_.resize(buckets_.size());
  pending_.resize(buckets_.size());
  waiting_.assign(buckets_.size(), 0);
  const char* mode = std::getenv("IMP_GRAD_SYNC");
  if (mode && std::string(mode) == "after_backward") return;  // benchmarks and tests: the serial schedule
#if IMP_TORCH_AT_LEAST(2, 1)
  for (size_t i = 0; i < params_.size(); ++i)
    if (!late_[i]) torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<ReadyHook>(this, i));
  hooked_ = true;
#endif
}

GradSync::~GradSync() {
#if IMP_TORCH_AT_LEAST(2, 1)
  if (hooked_)
    for (size_t i = 0; i < params_.size(); ++i)
      if (!late_[i]) torch::autograd::impl::set_post_acc_grad_hooks(params_[i], nullptr);
#endif
}

void GradSync::arm() {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t b = 0; b < buckets_.size(); ++b) waiting_[b] = static_cast<int64_t>(buckets_[b].params.size());
  next_ = 0;
  overlapped_ = 0;
  armed_ = hooked_;
}

void GradSync::on_ready(size_t param) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;  // an accumulation micro-step
  --waiting_[bucket_of_[param]];
  launch_ready_locked();
}

void GradSync::launch_ready_locked() {
  while (next_ < buckets_.size() && waiting_[next_] == 0) {
    launch_locked(next_++);
    ++overlapped_;
  }
}

void GradSync::launch_locked(size_t b) {
  torch::NoGradGuard no_grad;
  const GradBucket& bucket = buckets_[b];
  std::vector<torch::Tensor> parts;
  for (size_t i : bucket.params) {
    auto& p = params_[i];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    parts.push_back(p.grad().reshape({-1}));
  }
  const int64_t total = stage_ == 0 ? bucket.numel : bucket.padded;
  if (total > bucket.numel) parts.push_back(torch::zeros({total - bucket.numel}, parts[0].options()));
  flats_[b] = parts.size() == 1 ? parts[0].clone() : torch::cat(parts);
  parts.clear();
  // The gradients are final: stage 0 makes them views of the bucket (the sum lands in place), stage 1 drops
  // them (only the owned shard of the sum is kept). Either way no second copy outlives the bucket.
  for (size_t k = 0; k < bucket.params.size(); ++k) {
    auto& p = params_[bucket.params[k]];
    p.mutable_grad() = stage_ == 0 ? flats_[b].narrow(0, bucket.offsets[k], p.numel()).view_as(p) : torch::Tensor();
  }
  const std::string what = "gradients bucket " + std::to_string(b + 1) + "/" + std::to_string(buckets_.size()) + label_;
  if (stage_ == 0) {
    pending_[b] = pg_.all_reduce_async(flats_[b], what);
  } else {
    shards_[b] = torch::empty({bucket.shard_numel()}, flats_[b].options());
    pending_[b] = pg_.reduce_scatter_async(flats_[b], shards_[b], what);
  }
}

void GradSync::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!armed_) {  // no hooks: everything starts now
      next_ = 0;
      overlapped_ = 0;
    }
    armed_ = false;  // what is left (a member without a gradient here gets zeros) starts in order
    while (next_ < buckets_.size()) launch_locked(next_++);
  }
  for (size_t b = 0; b < buckets_.size(); ++b) {
    pending_[b]->wait();
    pending_[b].reset();
    flats_[b] = torch::Tensor();  // stage 0: the gradients still view it
  }
}

}  // namespace imp::train
