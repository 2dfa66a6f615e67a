#include "imp/train/optimizer.h"

#include <cmath>

#include "imp/core/error.h"

namespace imp::train {

void adamw_update(torch::Tensor& w, torch::Tensor& m, torch::Tensor& v, const torch::Tensor& grad, double lr,
                  double weight_decay, int64_t step, const AdamWOptions& o) {
  w.mul_(1.0 - lr * weight_decay);
  m.mul_(o.beta1).add_(grad, 1.0 - o.beta1);
  v.mul_(o.beta2).addcmul_(grad, grad, 1.0 - o.beta2);
  const double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  auto denom = (v.sqrt() / std::sqrt(bias_correction2)).add_(o.eps);
  w.addcdiv_(m, denom, -lr / bias_correction1);
}

AdamW::AdamW(std::vector<NamedParam> params, std::vector<ParamGroup> groups, AdamWOptions o)
    : params_(std::move(params)), groups_(std::move(groups)), o_(o) {
  for (const auto& p : params_) {
    IMP_CHECK(p.group < groups_.size(), "parameter ", p.name, " names group ", p.group, " of ", groups_.size());
    exp_avg_.push_back(torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve));
    steps_.push_back(0);
  }
}

void AdamW::step(double lr_factor) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].tensor;
    const auto& grad = p.grad();
    if (!grad.defined()) continue;
    const ParamGroup& g = groups_[params_[i].group];
    adamw_update(p, exp_avg_[i], exp_avg_sq_[i], grad, g.lr * lr_factor, g.weight_decay, ++steps_[i], o_);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_)
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = torch::Tensor();
}

std::map<std::string, torch::Tensor> AdamW::state() const {
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out["exp_avg/" + params_[i].name] = exp_avg_[i];
    out["exp_avg_sq/" + params_[i].name] = exp_avg_sq_[i];
    out["step/" + params_[i].name] = torch::tensor(steps_[i], torch::kInt64);
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& state, const std::string& origin) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& key) -> const torch::Tensor& {
    auto it = state.find(key);
    IMP_CHECK(it != state.end(), origin, ": optimizer state misses '", key,
              "'\nhint: the checkpoint was written for other trainable parameters (different stage or LoRA targets)");
    return it->second;
  };
  IMP_CHECK(state.size() == 3 * params_.size(), origin, ": optimizer state has ", state.size(), " tensors, expected ",
            3 * params_.size(), " (3 per trainable parameter)");
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& name = params_[i].name;
    const auto& m = get("exp_avg/" + name);
    const auto& v = get("exp_avg_sq/" + name);
    IMP_CHECK(m.sizes() == params_[i].tensor.sizes() && v.sizes() == params_[i].tensor.sizes(), origin,
              ": optimizer state of ", name, " has shape ", m.sizes(), ", the parameter ", params_[i].tensor.sizes());
    exp_avg_[i].copy_(m);
    exp_avg_sq_[i].copy_(v);
    steps_[i] = get("step/" + name).item<int64_t>();
  }
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(torch::norm(p.grad(), 2));
  if (norms.empty()) return 0.0;
  const double total = torch::norm(torch::stack(norms), 2).item<double>();
  if (max_norm > 0 && std::isfinite(total)) {
    const double coef = std::min(1.0, max_norm / (total + 1e-6));
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(coef);
  }
  return total;
}

}  // namespace imp::train
