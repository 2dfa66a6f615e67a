// Phi-3 decoder (transformers Phi3ForCausalLM, Imp model_type "imp_phi3"): fused qkv_proj (rows q|k|v)
// and gate_up_proj (gate first), RMSNorm, sliding-window causal attention, optional su/longrope/yarn
// rope scaling, no biases. Residual dropout (resid_pdrop, 0 in released models) in training only.
#include "imp/models/language_model.h"

namespace imp {
namespace {

class Phi3Attention : public torch::nn::Module {
 public:
  Phi3Attention(const TextConfig& c, const nn::Rotary& rotary) : c_(c), rotary_(rotary) {
    const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
    qkv_proj = register_module("qkv_proj", nn::Linear(c.hidden_size, q + 2 * kv, false));
    o_proj = register_module("o_proj", nn::Linear(q, c.hidden_size, false));
  }

  // x [B,T,H] -> [B,T,H]; qkv_proj rows are q | k | v.
  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) {
    const int64_t qn = c_.num_attention_heads * c_.head_dim, kvn = c_.num_key_value_heads * c_.head_dim;
    auto qkv = qkv_proj(x);
    return o_proj(self_attention(c_, rotary_, qkv.slice(-1, 0, qn), qkv.slice(-1, qn, qn + kvn), qkv.slice(-1, qn + kvn),
                                 ctx, nn::ScoreMode::dtype_divide));
  }

  nn::Linear qkv_proj{nullptr}, o_proj{nullptr};

 private:
  const TextConfig& c_;
  const nn::Rotary& rotary_;
};

class Phi3Mlp : public torch::nn::Module {
 public:
  explicit Phi3Mlp(const TextConfig& c) {
    gate_up_proj = register_module("gate_up_proj", nn::Linear(c.hidden_size, 2 * c.intermediate_size, false));
    down_proj = register_module("down_proj", nn::Linear(c.intermediate_size, c.hidden_size, false));
  }
  torch::Tensor forward(const torch::Tensor& x, bool recompute) {
    auto swiglu = [](const std::vector<torch::Tensor>& g) {
      auto gate_up = g[0].chunk(2, -1);
      return gate_up[1] * torch::silu(gate_up[0]);
    };
    return down_proj(maybe_recompute(recompute, swiglu, {gate_up_proj(x)}));
  }
  nn::Linear gate_up_proj{nullptr}, down_proj{nullptr};
};

class Phi3Layer : public DecoderLayer {
 public:
  Phi3Layer(const TextConfig& c, const nn::Rotary& rotary) : dropout_(c.resid_pdrop) {
    self_attn = register_module("self_attn", std::make_shared<Phi3Attention>(c, rotary));
    mlp = register_module("mlp", std::make_shared<Phi3Mlp>(c));
    input_layernorm = register_module("input_layernorm", nn::RMSNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", nn::RMSNorm(c.hidden_size, c.norm_eps));
  }

  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) override {
    auto h = x + torch::dropout(self_attn->forward(input_layernorm(x), ctx), dropout_, is_training());
    return h + torch::dropout(mlp->forward(post_attention_layernorm(h), ctx.selective), dropout_, is_training());
  }

  std::shared_ptr<Phi3Attention> self_attn;
  std::shared_ptr<Phi3Mlp> mlp;
  nn::RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};

 private:
  double dropout_;
};

class Phi3 : public CausalLM {
 public:
  explicit Phi3(const TextConfig& c) : CausalLM(c) {
    std::vector<std::shared_ptr<DecoderLayer>> layers;
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers.push_back(std::make_shared<Phi3Layer>(config_, rotary_));
    auto norm = model_->register_module("norm", nn::RMSNorm(c.hidden_size, c.norm_eps));
    // Phi-3 defines embd_pdrop but never applies it (modeling_phi3.py); neither do we.
    finish(std::move(layers), [norm](const torch::Tensor& x) { return norm->forward(x); }, /*lm_head_bias=*/false, "");
  }
};

}  // namespace

std::shared_ptr<CausalLM> make_phi3(const TextConfig& config) { return std::make_shared<Phi3>(config); }

}  // namespace imp
