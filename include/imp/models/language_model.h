// CausalLM: what the three decoders share (embedding, the layer loop with RoPE/mask/KV cache, the
// final norm and lm_head). Each architecture file (phi2.cpp, qwen2.cpp, phi3.cpp) only builds its
// layers and registers the modules under the HF names ("model.layers.N....", "lm_head").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "imp/models/config.h"
#include "imp/nn/attention.h"
#include "imp/nn/layers.h"
#include "imp/train/activation_estimate.h"

namespace imp {

// What a decoder layer needs besides its input.
struct LayerContext {
  torch::Tensor cos, sin;  // rotary tables [B,T,rotary_dim]
  torch::Tensor mask;      // additive [B,1,T,S]; packed: undefined
  // Packed (padding-free) rows: B = 1 and the row holds samples of these lengths back to back; attention
  // stays within each sample (masks[k]: the causal mask [1,1,L,L] of sample k).
  std::vector<int64_t> packed;
  std::vector<torch::Tensor> packed_masks;
  nn::KVCache* cache = nullptr;
  size_t index = 0;
  nn::AttentionImpl impl = nn::AttentionImpl::eager;
  // Selective recomputation (training): the attention core (RoPE, scores, softmax, values) and the MLP
  // activation are recomputed in backward; the matmul outputs they start from are kept.
  bool selective = false;
};

// Recomputes `fn(xs)` in backward instead of keeping its activations when `on`; else just calls it.
torch::Tensor maybe_recompute(bool on, std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn,
                              const std::vector<torch::Tensor>& xs);

// Activation recomputation of the decoder in training (docs/training-flags.md, gradient_checkpointing).
struct RecomputePolicy {
  int64_t full_layers = 0;  // the first N decoder layers are recomputed whole in backward (>= layers: all)
  bool selective = false;   // the other layers recompute their attention core and MLP activation
  // When set (--gradient_checkpointing auto): full_layers for a micro-batch (padded rows, or a packed row's
  // samples: their own lengths).
  std::function<int64_t(const train::BatchShape&)> plan;
  // For the plan, set by ImpModel::forward before a training forward: the rows its loss scores (-1: unknown)
  // and the images of the micro-batch.
  int64_t scored_rows = -1, images = 0;
};

class DecoderLayer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx) = 0;
};

// Heads split, RoPE, KV cache and attention shared by the decoders: q [B,T,Hq*D], k/v [B,T,Hkv*D]
// (projection outputs) -> [B,T,Hq*D], ready for the output projection.
torch::Tensor self_attention(const TextConfig& c, const nn::Rotary& rotary, const torch::Tensor& q,
                             const torch::Tensor& k, const torch::Tensor& v, const LayerContext& ctx,
                             nn::ScoreMode scores);

// Attention with separate q/k/v projections (all with bias) and an output projection: Phi-2 names it
// "dense" (with bias, fp32 scores), Qwen2 "o_proj" (no bias, scores in the model dtype).
struct SeparateQkvSpec {
  const char* out_name;
  bool out_bias;
  nn::ScoreMode scores;
};

class SeparateQkvAttention : public torch::nn::Module {
 public:
  SeparateQkvAttention(const TextConfig& c, const nn::Rotary& rotary, SeparateQkvSpec spec);
  torch::Tensor forward(const torch::Tensor& x, const LayerContext& ctx);  // [B,T,H] -> [B,T,H]
  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  const TextConfig& c_;
  const nn::Rotary& rotary_;
  nn::ScoreMode scores_;
};

class CausalLM : public torch::nn::Module {
 public:
  explicit CausalLM(const TextConfig& config);

  // ids [B,T] -> embeddings [B,T,H] (padding_idx = pad_token_id as HF's nn.Embedding).
  torch::Tensor embed(const torch::Tensor& ids) const;
  // embeds [B,T,H], mask2d [B,P+T] (1 = token, 0 = padding; undefined = all ones), position_ids [B,T];
  // with a cache, P keys are already in it and the new ones are appended. Returns the normed hidden states.
  // packed_lengths (training without a cache): embeds is one row [1,N,H] of samples of these lengths, N their
  // sum, position_ids restarting at 0 per sample, mask2d all ones; attention is block-diagonal causal.
  torch::Tensor forward_hidden(const torch::Tensor& embeds, const torch::Tensor& mask2d,
                               const torch::Tensor& position_ids, nn::KVCache* cache = nullptr,
                               const std::vector<int64_t>& packed_lengths = {});
  // lm_head, returned in fp32 (as transformers' *ForCausalLM.forward does with logits.float()).
  torch::Tensor logits(const torch::Tensor& hidden);

  const TextConfig& config() const { return config_; }
  torch::nn::Module& inner() { return *model_; }  // the "model" submodule
  // Replaces model.embed_tokens' weight by `kernel` (its buffers are registered there; embed() gathers rows
  // through it, in the embedding's current dtype) and, with tied embeddings, lm_head's weight too.
  void set_embedding_kernel(std::shared_ptr<nn::WeightKernel> kernel);
  size_t num_layers() const { return layers_.size(); }
  nn::AttentionImpl attention_impl = nn::AttentionImpl::eager;
  // Recompute activations in backward instead of keeping them (training only).
  RecomputePolicy recompute;
  // Every layer recomputed whole (true) or nothing recomputed (false).
  void set_gradient_checkpointing(bool on) { recompute = RecomputePolicy{on ? INT64_MAX : 0, false, nullptr, -1, 0}; }
  // The full_layers of the last training forward (what the plan chose).
  int64_t last_full_layers() const { return last_full_layers_; }
  std::string recompute_plan_description;  // what the plan is based on, for the log

 protected:
  // Called by the architecture constructors.
  void finish(std::vector<std::shared_ptr<DecoderLayer>> layers,
              std::function<torch::Tensor(const torch::Tensor&)> final_norm, bool lm_head_bias,
              const std::string& embed_dropout_key);

  TextConfig config_;
  std::shared_ptr<torch::nn::Module> model_;
  torch::Tensor embed_weight_;
  std::shared_ptr<nn::WeightKernel> embed_kernel_;
  torch::ScalarType embed_dtype_ = torch::kFloat32;  // the dtype embed() returns with a kernel
  std::vector<std::shared_ptr<DecoderLayer>> layers_;
  std::function<torch::Tensor(const torch::Tensor&)> final_norm_;
  nn::Linear lm_head_{nullptr};
  nn::Rotary rotary_;
  double embed_dropout_ = 0.0;
  int64_t last_full_layers_ = 0;
};

// The registry: the one place that maps an architecture to its implementation.
std::shared_ptr<CausalLM> make_causal_lm(const TextConfig& config);

// Architecture constructors (one file each).
std::shared_ptr<CausalLM> make_phi2(const TextConfig& config);
std::shared_ptr<CausalLM> make_qwen2(const TextConfig& config);
std::shared_ptr<CausalLM> make_phi3(const TextConfig& config);

}  // namespace imp
