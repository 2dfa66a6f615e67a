// Qwen1.5 decoder (transformers Qwen2ForCausalLM, Imp model_type "imp_qwen2"): pre-norm RMSNorm
// layers, q/k/v with bias and o_proj without, SwiGLU MLP, grouped-query attention, untied lm_head.
#include "imp/models/language_model.h"

namespace imp {
namespace {

class Qwen2Attention : public torch::nn::Module {
 public:
  Qwen2Attention(const TextConfig& c, const nn::Rotary& rotary) : c_(c), rotary_(rotary) {
    const int64_t kv = c.num_key_value_heads * c.head_dim;
    q_proj = register_module("q_proj", nn::Linear(c.hidden_size, c.num_attention_heads * c.head_dim, true));
    k_proj = register_module("k_proj", nn::Linear(c.hidden_size, kv, true));
    v_proj = register_module("v_proj", nn::Linear(c.hidden_size, kv, true));
    o_proj = register_module("o_proj", nn::Linear(c.num_attention_heads * c.head_dim, c.hidden_size, false));
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
    auto out = nn::attention(q, k, v, ctx.mask, nn::ScoreMode::dtype_divide, ctx.impl);
    return o_proj(out.transpose(1, 2).reshape({b, t, -1}));
  }

  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  const TextConfig& c_;
  const nn::Rotary& rotary_;
};

class Qwen2Mlp : public torch::nn::Module {
 public:
  explicit Qwen2Mlp(const TextConfig& c) {
    gate_proj = register_module("gate_proj", nn::Linear(c.hidden_size, c.intermediate_size, false));
    up_proj = register_module("up_proj", nn::Linear(c.hidden_size, c.intermediate_size, false));
    down_proj = register_module("down_proj", nn::Linear(c.intermediate_size, c.hidden_size, false));
  }
  torch::Tensor forward(const torch::Tensor& x) { return down_proj(torch::silu(gate_proj(x)) * up_proj(x)); }
  nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

class Qwen2Layer : public DecoderLayer {
 public:
  Qwen2Layer(const TextConfig& c, const nn::Rotary& rotary) {
    self_attn = register_module("self_attn", std::make_shared<Qwen2Attention>(c, rotary));
    mlp = register_module("mlp", std::make_shared<Qwen2Mlp>(c));
    input_layernorm = register_module("input_layernorm", nn::RMSNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", nn::RMSNorm(c.hidden_size, c.norm_eps));
  }

  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) override {
    auto h = x + self_attn->forward(input_layernorm(x), ctx);
    return h + mlp->forward(post_attention_layernorm(h));
  }

  std::shared_ptr<Qwen2Attention> self_attn;
  std::shared_ptr<Qwen2Mlp> mlp;
  nn::RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};

class Qwen2 : public CausalLM {
 public:
  explicit Qwen2(const TextConfig& c) : CausalLM(c) {
    std::vector<std::shared_ptr<DecoderLayer>> layers;
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers.push_back(std::make_shared<Qwen2Layer>(config_, rotary_));
    auto norm = model_->register_module("norm", nn::RMSNorm(c.hidden_size, c.norm_eps));
    finish(std::move(layers), [norm](const torch::Tensor& x) { return norm->forward(x); }, /*lm_head_bias=*/false, "");
  }
};

}  // namespace

std::shared_ptr<CausalLM> make_qwen2(const TextConfig& config) { return std::make_shared<Qwen2>(config); }

}  // namespace imp
