// The decoder loop shared by all architectures, and the architecture registry.
#include "imp/models/language_model.h"

#include <algorithm>
#include <map>

#include "imp/nn/checkpoint.h"

#include "imp/core/error.h"

namespace imp {

torch::Tensor maybe_recompute(bool on, std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn,
                              const std::vector<torch::Tensor>& xs) {
  return on ? nn::checkpoint(std::move(fn), xs) : fn(xs);
}

torch::Tensor self_attention(const TextConfig& c, const nn::Rotary& rotary, const torch::Tensor& q_in,
                             const torch::Tensor& k_in, const torch::Tensor& v_in, const LayerContext& ctx,
                             nn::ScoreMode scores) {
  // The context by value: a recomputation runs in backward, after the caller's context is gone.
  auto core = [&c, &rotary, ctx, scores](const std::vector<torch::Tensor>& qkv) {
    const int64_t b = qkv[0].size(0), t = qkv[0].size(1);
    auto heads = [&](const torch::Tensor& x, int64_t n) { return x.view({b, t, n, c.head_dim}).transpose(1, 2); };
    auto q = rotary.apply(heads(qkv[0], c.num_attention_heads), ctx.cos, ctx.sin);
    auto k = rotary.apply(heads(qkv[1], c.num_key_value_heads), ctx.cos, ctx.sin);
    auto v = heads(qkv[2], c.num_key_value_heads);
    if (ctx.cache) std::tie(k, v) = ctx.cache->append(ctx.index, k, v);  // keys are cached after RoPE, as HF
    if (ctx.packed.empty())
      return nn::attention(q, k, v, ctx.mask, scores, ctx.impl).transpose(1, 2).reshape({b, t, -1});
    // Packed: one attention per sample (no work on pairs across samples).
    std::vector<torch::Tensor> outs;
    int64_t start = 0;
    for (size_t s = 0; s < ctx.packed.size(); ++s) {
      const int64_t end = start + ctx.packed[s];
      outs.push_back(nn::attention(q.slice(2, start, end), k.slice(2, start, end), v.slice(2, start, end),
                                   ctx.packed_masks[s], scores, ctx.impl));
      start = end;
    }
    return torch::cat(outs, 2).transpose(1, 2).reshape({b, t, -1});
  };
  return maybe_recompute(ctx.selective, core, {q_in, k_in, v_in});
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
                                       const torch::Tensor& position_ids, nn::KVCache* cache,
                                       const std::vector<int64_t>& packed_lengths) {
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
  if (packed_lengths.empty()) {
    ctx.mask = nn::causal_mask(mask2d, len, embeds.scalar_type(), config_.sliding_window);
  } else {
    IMP_CHECK(!cache && batch == 1, "packed rows are for training: one row, no KV cache");
    int64_t total = 0;
    std::map<int64_t, torch::Tensor> by_length;  // one mask per distinct length
    for (const int64_t n : packed_lengths) {
      auto& m = by_length[n];
      if (!m.defined())
        m = nn::causal_mask(torch::ones({1, n}, mask2d.options()), n, embeds.scalar_type(), config_.sliding_window);
      ctx.packed_masks.push_back(m);
      total += n;
    }
    IMP_CHECK(total == len, "packed lengths sum to ", total, " but the row has ", len, " positions");
    ctx.packed = packed_lengths;
  }
  ctx.cache = cache;
  ctx.impl = attention_impl;
  auto x = embed_dropout_ > 0.0 ? torch::dropout(embeds, embed_dropout_, is_training()) : embeds;
  const bool recomputing = is_training() && torch::GradMode::is_enabled() && !cache;
  int64_t full_layers = !recomputing ? 0 : recompute.full_layers;
  if (recomputing && recompute.plan) {
    auto shape = packed_lengths.empty() ? train::BatchShape::padded(batch, len, recompute.images)
                                        : train::BatchShape::packed(packed_lengths, recompute.images);
    shape.scored = static_cast<double>(recompute.scored_rows);
    full_layers = recompute.plan(shape);
  }
  if (recomputing) last_full_layers_ = std::min<int64_t>(full_layers, static_cast<int64_t>(layers_.size()));
  for (size_t i = 0; i < layers_.size(); ++i) {
    ctx.index = i;
    const bool whole = static_cast<int64_t>(i) < full_layers;
    ctx.selective = recomputing && recompute.selective && !whole;
    if (whole) {
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
