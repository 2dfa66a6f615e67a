// Phi-2 decoder (transformers PhiForCausalLM, Imp model_type "imp"): attention and MLP run in
// parallel on one shared LayerNorm, partial rotary (rotary_dim of head_dim), gelu_new, biases
// everywhere, lm_head with bias, q/k upcast to fp32 for the scores. Dropout on both branches
// (resid_pdrop, 0.1 in Imp) is active in training only.
#include "imp/models/language_model.h"

namespace imp {
namespace {

class Phi2Attention : public torch::nn::Module {
 public:
  explicit Phi2Attention(const TextConfig& c, const nn::Rotary& rotary) : c_(c), rotary_(rotary) {
    const int64_t kv = c.num_key_value_heads * c.head_dim;
    q_proj = register_module("q_proj", nn::Linear(c.hidden_size, c.num_attention_heads * c.head_dim, true));
    k_proj = register_module("k_proj", nn::Linear(c.hidden_size, kv, true));
    v_proj = register_module("v_proj", nn::Linear(c.hidden_size, kv, true));
    dense = register_module("dense", nn::Linear(c.num_attention_heads * c.head_dim, c.hidden_size, true));
  }

  // x [B,T,H] -> [B,T,H]
  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) {
    const int64_t b = x.size(0), t = x.size(1);
    auto q = q_proj(x).view({b, t, c_.num_attention_heads, c_.head_dim}).transpose(1, 2);
    auto k = k_proj(x).view({b, t, c_.num_key_value_heads, c_.head_dim}).transpose(1, 2);
    auto v = v_proj(x).view({b, t, c_.num_key_value_heads, c_.head_dim}).transpose(1, 2);
    q = rotary_.apply(q, ctx.cos, ctx.sin);
    k = rotary_.apply(k, ctx.cos, ctx.sin);
    if (ctx.cache) std::tie(k, v) = ctx.cache->append(ctx.index, k, v);
    auto out = nn::attention(q, k, v, ctx.mask, nn::ScoreMode::fp32_divide, ctx.impl);
    return dense(out.transpose(1, 2).reshape({b, t, -1}));
  }

  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, dense{nullptr};

 private:
  const TextConfig& c_;
  const nn::Rotary& rotary_;
};

class Phi2Mlp : public torch::nn::Module {
 public:
  explicit Phi2Mlp(const TextConfig& c) {
    fc1 = register_module("fc1", nn::Linear(c.hidden_size, c.intermediate_size, true));
    fc2 = register_module("fc2", nn::Linear(c.intermediate_size, c.hidden_size, true));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(nn::gelu_new(fc1(x))); }
  nn::Linear fc1{nullptr}, fc2{nullptr};
};

class Phi2Layer : public DecoderLayer {
 public:
  Phi2Layer(const TextConfig& c, const nn::Rotary& rotary) : dropout_(c.resid_pdrop) {
    input_layernorm = register_module(
        "input_layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.norm_eps)));
    self_attn = register_module("self_attn", std::make_shared<Phi2Attention>(c, rotary));
    mlp = register_module("mlp", std::make_shared<Phi2Mlp>(c));
  }

  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) override {
    auto h = input_layernorm(x);
    auto a = torch::dropout(self_attn->forward(h, ctx), dropout_, is_training());
    auto m = torch::dropout(mlp->forward(h), dropout_, is_training());
    return a + m + x;  // Python order: (attn + mlp) + residual
  }

  torch::nn::LayerNorm input_layernorm{nullptr};
  std::shared_ptr<Phi2Attention> self_attn;
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
