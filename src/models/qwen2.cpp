// Qwen1.5 decoder (transformers Qwen2ForCausalLM, Imp model_type "imp_qwen2"): pre-norm RMSNorm
// layers, q/k/v with bias and o_proj without, SwiGLU MLP, grouped-query attention, lm_head (tied to the
// embedding with tie_word_embeddings, as the 0.5B/1.5B models).
#include "imp/models/language_model.h"

namespace imp {
namespace {

class Qwen2Mlp : public torch::nn::Module {
 public:
  explicit Qwen2Mlp(const TextConfig& c) {
    gate_proj = register_module("gate_proj", nn::Linear(c.hidden_size, c.intermediate_size, false));
    up_proj = register_module("up_proj", nn::Linear(c.hidden_size, c.intermediate_size, false));
    down_proj = register_module("down_proj", nn::Linear(c.intermediate_size, c.hidden_size, false));
  }
  torch::Tensor forward(const torch::Tensor& x, bool recompute) {
    return down_proj(maybe_recompute(
        recompute, [](const std::vector<torch::Tensor>& g) { return torch::silu(g[0]) * g[1]; },
        {gate_proj(x), up_proj(x)}));
  }
  nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

class Qwen2Layer : public DecoderLayer {
 public:
  Qwen2Layer(const TextConfig& c, const nn::Rotary& rotary) {
    self_attn = register_module(
        "self_attn", std::make_shared<SeparateQkvAttention>(c, rotary, SeparateQkvSpec{"o_proj", false, nn::ScoreMode::dtype_divide}));
    mlp = register_module("mlp", std::make_shared<Qwen2Mlp>(c));
    input_layernorm = register_module("input_layernorm", nn::RMSNorm(c.hidden_size, c.norm_eps));
    post_attention_layernorm = register_module("post_attention_layernorm", nn::RMSNorm(c.hidden_size, c.norm_eps));
  }

  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) override {
    auto h = x + self_attn->forward(input_layernorm(x), ctx);
    return h + mlp->forward(post_attention_layernorm(h), ctx.selective);
  }

  std::shared_ptr<SeparateQkvAttention> self_attn;
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
