// Phi-2 decoder (transformers PhiForCausalLM, Imp model_type "imp"): attention and MLP run in
// parallel on one shared LayerNorm, partial rotary (rotary_dim of head_dim), gelu_new, biases
// everywhere, lm_head with bias, q/k upcast to fp32 for the scores. Dropout on both branches
// (resid_pdrop, 0.1 in Imp) is active in training only.
#include "imp/models/language_model.h"

namespace imp {
namespace {

class Phi2Mlp : public torch::nn::Module {
 public:
  explicit Phi2Mlp(const TextConfig& c) {
    fc1 = register_module("fc1", nn::Linear(c.hidden_size, c.intermediate_size, true));
    fc2 = register_module("fc2", nn::Linear(c.intermediate_size, c.hidden_size, true));
  }
  // recompute: gelu_new's elementwise intermediates are recomputed in backward (selective recomputation).
  torch::Tensor forward(const torch::Tensor& x, bool recompute) {
    return fc2(maybe_recompute(recompute, [](const std::vector<torch::Tensor>& h) { return nn::gelu_new(h[0]); },
                               {fc1(x)}));
  }
  nn::Linear fc1{nullptr}, fc2{nullptr};
};

class Phi2Layer : public DecoderLayer {
 public:
  Phi2Layer(const TextConfig& c, const nn::Rotary& rotary) : dropout_(c.resid_pdrop) {
    input_layernorm = register_module(
        "input_layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.norm_eps)));
    self_attn = register_module(
        "self_attn", std::make_shared<SeparateQkvAttention>(c, rotary, SeparateQkvSpec{"dense", true, nn::ScoreMode::fp32_divide}));
    mlp = register_module("mlp", std::make_shared<Phi2Mlp>(c));
  }

  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) override {
    auto h = input_layernorm(x);
    auto a = torch::dropout(self_attn->forward(h, ctx), dropout_, is_training());
    auto m = torch::dropout(mlp->forward(h, ctx.selective), dropout_, is_training());
    return a + m + x;  // Python order: (attn + mlp) + residual
  }

  torch::nn::LayerNorm input_layernorm{nullptr};
  std::shared_ptr<SeparateQkvAttention> self_attn;
  std::shared_ptr<Phi2Mlp> mlp;

 private:
  double dropout_;
};

class Phi2 : public CausalLM {
 public:
  explicit Phi2(const TextConfig& c) : CausalLM(c) {
    std::vector<std::shared_ptr<DecoderLayer>> layers;
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers.push_back(std::make_shared<Phi2Layer>(config_, rotary_));
    auto norm = model_->register_module(
        "final_layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.norm_eps)));
    finish(std::move(layers), [norm](const torch::Tensor& x) { return norm->forward(x); }, /*lm_head_bias=*/true,
           "embd_pdrop");
  }
};

}  // namespace

std::shared_ptr<CausalLM> make_phi2(const TextConfig& config) { return std::make_shared<Phi2>(config); }

}  // namespace imp
