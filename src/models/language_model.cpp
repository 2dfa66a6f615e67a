// The decoder loop shared by all architectures, and the architecture registry.
#include "imp/models/language_model.h"

#include "imp/nn/checkpoint.h"

#include "imp/core/error.h"

namespace imp {

torch::Tensor self_attention(const TextConfig& c, const nn::Rotary& rotary, const torch::Tensor& q_in,
                             const torch::Tensor& k_in, const torch::Tensor& v_in, const LayerContext& ctx,
                             nn::ScoreMode scores) {
  const int64_t b = q_in.size(0), t = q_in.size(1);
  auto heads = [&](const torch::Tensor& x, int64_t n) { return x.view({b, t, n, c.head_dim}).transpose(1, 2); };
  auto q = rotary.apply(heads(q_in, c.num_attention_heads), ctx.cos, ctx.sin);
  auto k = rotary.apply(heads(k_in, c.num_key_value_heads), ctx.cos, ctx.sin);
  auto v = heads(v_in, c.num_key_value_heads);
  if (ctx.cache) std::tie(k, v) = ctx.cache->append(ctx.index, k, v);  // keys are cached after RoPE, as HF
  return nn::attention(q, k, v, ctx.mask, scores, ctx.impl).transpose(1, 2).reshape({b, t, -1});
}

SeparateQkvAttention::SeparateQkvAttention(const TextConfig& c, const nn::Rotary& rotary, SeparateQkvSpec spec)
    : c_(c), rotary_(rotary), scores_(spec.scores) {
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  q_proj = register_module("q_proj", nn::Linear(c.hidden_size, q, true));
  k_proj = register_module("k_proj", nn::Linear(c.hidden_size, kv, true));
  v_proj = register_module("v_proj", nn::Linear(c.hidden_size, kv, true));
  out_proj = register_module(spec.out_name, nn::Linear(q, c.hidden_size, spec.out_bias));
}

torch::Tensor SeparateQkvAttention::forward(const torch::Tensor& x, const LayerContext& ctx) {
  return out_proj(self_attention(c_, rotary_, q_proj(x), k_proj(x), v_proj(x), ctx, scores_));
}

CausalLM::CausalLM(const TextConfig& config) : config_(config), rotary_(config) {
  model_ = register_module("model", std::make_shared<torch::nn::Module>());
  embed_weight_ = model_->register_module("embed_tokens", torch::nn::Embedding(config.vocab_size, config.hidden_size))
                      ->weight;
}

void CausalLM::finish(std::vector<std::shared_ptr<DecoderLayer>> layers,
                      std::function<torch::Tensor(const torch::Tensor&)> final_norm, bool lm_head_bias,
                      const std::string& embed_dropout_key) {
  auto list = model_->register_module("layers", torch::nn::ModuleList());
  for (auto& layer : layers) list->push_back(layer);
  layers_ = std::move(layers);
  final_norm_ = std::move(final_norm);
  // tie_word_embeddings (HF tie_weights()): lm_head's weight is the embedding tensor; only the bias is its own.
  lm_head_ = register_module("lm_head", config_.tie_word_embeddings
                                            ? nn::Linear(embed_weight_, lm_head_bias)
                                            : nn::Linear(config_.hidden_size, config_.vocab_size, lm_head_bias));
  embed_dropout_ = embed_dropout_key.empty() ? 0.0 : config_.embd_pdrop;
}

void CausalLM::set_embedding_kernel(std::shared_ptr<nn::WeightKernel> kernel) {
  IMP_CHECK(kernel && !embed_kernel_, "set_embedding_kernel: the embedding already has a kernel");
  embed_dtype_ = embed_weight_.scalar_type();
  auto holder = std::make_shared<torch::nn::Module>();
  for (auto& [name, t] : kernel->buffers()) holder->register_buffer(name, t);
  model_->replace_module("embed_tokens", holder);
  if (lm_head_->weight_tied()) lm_head_->set_weight_kernel(kernel);
  embed_weight_ = torch::Tensor();
  embed_kernel_ = std::move(kernel);
}

torch::Tensor CausalLM::embed(const torch::Tensor& ids) const {
  if (embed_kernel_) return embed_kernel_->rows(ids, embed_dtype_);
  const int64_t pad = config_.pad_token_id && *config_.pad_token_id >= 0 && *config_.pad_token_id < config_.vocab_size
                          ? *config_.pad_token_id
                          : -1;
  return torch::embedding(embed_weight_, ids, pad);
}

torch::Tensor CausalLM::forward_hidden(const torch::Tensor& embeds, const torch::Tensor& mask2d_in,
                                       const torch::Tensor& position_ids, nn::KVCache* cache) {
  const int64_t batch = embeds.size(0), len = embeds.size(1);
  if (cache && cache->keys.size() != layers_.size()) cache->reset(layers_.size());
  const int64_t past = cache ? cache->length() : 0;
  auto mask2d = mask2d_in.defined()
                    ? mask2d_in
                    : torch::ones({batch, past + len}, torch::TensorOptions().dtype(torch::kInt64).device(embeds.device()));
  IMP_CHECK(mask2d.size(0) == batch && mask2d.size(1) == past + len, "attention_mask has shape ", mask2d.sizes(),
            ", expected [", batch, ", ", past + len, "]");
  LayerContext ctx;
  std::tie(ctx.cos, ctx.sin) = rotary_.tables(position_ids, embeds.scalar_type());
  ctx.mask = nn::causal_mask(mask2d, len, embeds.scalar_type(), config_.sliding_window);
  ctx.cache = cache;
  ctx.impl = attention_impl;
  auto x = embed_dropout_ > 0.0 ? torch::dropout(embeds, embed_dropout_, is_training()) : embeds;
  for (size_t i = 0; i < layers_.size(); ++i) {
    ctx.index = i;
    if (gradient_checkpointing && is_training() && torch::GradMode::is_enabled() && !cache) {
      auto& layer = *layers_[i];
      x = nn::checkpoint([&layer, ctx](const torch::Tensor& h) { return layer.forward(h, ctx); }, x);
    } else {
      x = layers_[i]->forward(x, ctx);
    }
  }
  return final_norm_(x);
}

torch::Tensor CausalLM::logits(const torch::Tensor& hidden) { return lm_head_(hidden).to(torch::kFloat32); }

std::shared_ptr<CausalLM> make_causal_lm(const TextConfig& config) {
  switch (config.arch) {
    case Arch::phi2: return make_phi2(config);
    case Arch::qwen2: return make_qwen2(config);
    case Arch::phi3: return make_phi3(config);
  }
  IMP_FAIL("unknown architecture");
}

}  // namespace imp
