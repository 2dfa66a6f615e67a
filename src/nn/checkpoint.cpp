#include "imp/nn/checkpoint.h"

#include <atomic>
#include <map>
#include <mutex>

#include <ATen/Context.h>

#include "imp/core/error.h"
#include "imp/nn/autocast.h"

namespace imp::nn {
namespace {

using MultiFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// What a recomputation needs. autograd::Function's saved_data only holds IValues, so the closure is
// kept here under an id and taken out by the backward pass.
struct Pending {
  MultiFn fn;
  torch::Device device{torch::kCPU};
  torch::Tensor rng;      // state of the device's default generator at the forward
  AutocastState autocast;
};

std::mutex g_mutex;
std::map<int64_t, Pending> g_pending;
std::atomic<int64_t> g_next{0};

// The default generator of the device the layer runs on (dropout draws from it).
torch::Tensor rng_state(const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const torch::Device& device, const torch::Tensor& s) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);
}

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, at::TensorList xs, int64_t id) {
    ctx->saved_data["id"] = id;
    ctx->save_for_backward(xs.vec());
    MultiFn fn;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      fn = g_pending.at(id).fn;
    }
    torch::NoGradGuard no_grad;
    return fn(xs.vec());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const int64_t id = ctx->saved_data["id"].toInt();
    Pending p;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      auto it = g_pending.find(id);
      IMP_CHECK(it != g_pending.end(), "gradient checkpointing: backward ran twice through one checkpoint");
      p = std::move(it->second);
      g_pending.erase(it);
    }
    std::vector<torch::Tensor> inputs;
    for (const auto& x : ctx->get_saved_variables()) {
      inputs.push_back(x.detach());
      inputs.back().set_requires_grad(x.requires_grad());
    }
    torch::Tensor out;
    {
      const auto rng_now = rng_state(p.device);
      const auto autocast_now = AutocastState::current();
      set_rng_state(p.device, p.rng);
      p.autocast.apply();
      torch::AutoGradMode grad_mode(true);
      out = p.fn(inputs);
      autocast_now.apply();
      set_rng_state(p.device, rng_now);
    }
    if (out.requires_grad()) torch::autograd::backward({out}, {grads[0]});
    torch::autograd::variable_list result;
    for (const auto& in : inputs) result.push_back(in.requires_grad() ? in.grad() : torch::Tensor());
    result.emplace_back();  // id
    return result;
  }
};

}  // namespace

torch::Tensor checkpoint(MultiFn fn, const std::vector<torch::Tensor>& xs) {
  IMP_CHECK(!xs.empty(), "gradient checkpointing needs at least one input tensor");
  const int64_t id = g_next++;
  const auto dev = xs.front().device();
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_pending[id] = Pending{std::move(fn), dev, rng_state(dev), AutocastState::current()};
  }
  return CheckpointFunction::apply(at::TensorList(xs), id);
}

torch::Tensor checkpoint(std::function<torch::Tensor(const torch::Tensor&)> fn, const torch::Tensor& x) {
  return checkpoint([fn = std::move(fn)](const std::vector<torch::Tensor>& xs) { return fn(xs[0]); },
                    std::vector<torch::Tensor>{x});
}

}  // namespace imp::nn
