#include "imp/nn/checkpoint.h"

#include <atomic>
#include <map>
#include <mutex>

#include <ATen/Context.h>

#include "imp/core/error.h"
#include "imp/nn/autocast.h"

namespace imp::nn {
namespace {

// What a recomputation needs. autograd::Function's saved_data only holds IValues, so the closure is
// kept here under an id and taken out by the backward pass.
struct Pending {
  std::function<torch::Tensor(const torch::Tensor&)> fn;
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
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t id) {
    ctx->saved_data["id"] = id;
    ctx->save_for_backward({x});
    std::function<torch::Tensor(const torch::Tensor&)> fn;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      fn = g_pending.at(id).fn;
    }
    torch::NoGradGuard no_grad;
    return fn(x);
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
    auto x = ctx->get_saved_variables()[0];
    auto input = x.detach();
    input.set_requires_grad(x.requires_grad());
    torch::Tensor out;
    {
      const auto rng_now = rng_state(p.device);
      const auto autocast_now = AutocastState::current();
      set_rng_state(p.device, p.rng);
      p.autocast.apply();
      torch::AutoGradMode grad_mode(true);
      out = p.fn(input);
      autocast_now.apply();
      set_rng_state(p.device, rng_now);
    }
    if (out.requires_grad()) torch::autograd::backward({out}, {grads[0]});
    return {input.requires_grad() ? input.grad() : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpoint(std::function<torch::Tensor(const torch::Tensor&)> fn, const torch::Tensor& x) {
  const int64_t id = g_next++;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_pending[id] = Pending{std::move(fn), x.device(), rng_state(x.device()), AutocastState::current()};
  }
  return CheckpointFunction::apply(x, id);
}

}  // namespace imp::nn
