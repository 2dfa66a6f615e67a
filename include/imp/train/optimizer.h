// AdamW with parameter groups, numerically torch.optim.AdamW (PyTorch 1.13 single-tensor path,
// foreach=False), with a state that checkpoints as named tensors.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace imp::train {

struct ParamGroup {
  std::string name;          // e.g. "decay", "no_decay", "projector_decay", "projector_no_decay"
  double lr = 0.0;           // base learning rate (the schedule multiplies it)
  double weight_decay = 0.0;
};

struct NamedParam {
  std::string name;          // the checkpoint (HF) name
  torch::Tensor tensor;
  size_t group = 0;
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// One AdamW update of `w` in place (torch.optim.AdamW's single-tensor step): decoupled weight decay, the
// moments `m` and `v`, bias correction for `step` (1-based). Shared by AdamW and ShardedAdamW.
void adamw_update(torch::Tensor& w, torch::Tensor& m, torch::Tensor& v, const torch::Tensor& grad, double lr,
                  double weight_decay, int64_t step, const AdamWOptions& o);

class AdamW {
 public:
  AdamW(std::vector<NamedParam> params, std::vector<ParamGroup> groups, AdamWOptions o = {});
  // One update with lr = group.lr * lr_factor. Parameters without a gradient are skipped (and their
  // step counter stays), as in PyTorch.
  void step(double lr_factor);
  void zero_grad();

  const std::vector<NamedParam>& params() const { return params_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // "exp_avg/<name>", "exp_avg_sq/<name>", "step/<name>" (int64 scalar).
  std::map<std::string, torch::Tensor> state() const;
  // Strict: every parameter's state must be present with the right shape.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& origin);

 private:
  std::vector<NamedParam> params_;
  std::vector<ParamGroup> groups_;
  AdamWOptions o_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  std::vector<int64_t> steps_;
};

// torch.nn.utils.clip_grad_norm_ (1.13): the total L2 norm of the gradients (norm of the per-tensor
// norms), then every gradient times min(1, max_norm / (norm + 1e-6)) when max_norm > 0 and the norm is
// finite. Returns the norm before clipping (inf/NaN when a gradient is not finite).
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace imp::train
