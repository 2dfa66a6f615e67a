// CausalLM: what the three decoders share (embedding, the layer loop with RoPE/mask/KV cache, the
// final norm and lm_head). Each architecture file (phi2.cpp, qwen2.cpp, phi3.cpp) only builds its
// layers and registers the modules under the HF names ("model.layers.N....", "lm_head").
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "imp/models/config.h"
#include "imp/nn/attention.h"
#include "imp/nn/layers.h"

namespace imp {

// What a decoder layer needs besides its input.
struct LayerContext {
  torch::Tensor cos, sin;  // rotary tables [B,T,rotary_dim]
  torch::Tensor mask;      // additive [B,1,T,S]
  nn::KVCache* cache = nullptr;
  size_t index = 0;
  nn::AttentionImpl impl = nn::AttentionImpl::eager;
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
  torch::Tensor forward_hidden(const torch::Tensor& embeds, const torch::Tensor& mask2d,
                               const torch::Tensor& position_ids, nn::KVCache* cache = nullptr);
  // lm_head, returned in fp32 (as transformers' *ForCausalLM.forward does with logits.float()).
  torch::Tensor logits(const torch::Tensor& hidden);

  const TextConfig& config() const { return config_; }
  torch::nn::Module& inner() { return *model_; }  // the "model" submodule
  // Replaces model.embed_tokens' weight by `kernel` (its buffers are registered there; embed() gathers rows
  // through it, in the embedding's current dtype) and, with tied embeddings, lm_head's weight too.
  void set_embedding_kernel(std::shared_ptr<nn::WeightKernel> kernel);
  size_t num_layers() const { return layers_.size(); }
  nn::AttentionImpl attention_impl = nn::AttentionImpl::eager;
  // Recompute each decoder layer in backward instead of keeping its activations (training only).
  bool gradient_checkpointing = false;

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
};

// The registry: the one place that maps an architecture to its implementation.
std::shared_ptr<CausalLM> make_causal_lm(const TextConfig& config);

// Architecture constructors (one file each).
std::shared_ptr<CausalLM> make_phi2(const TextConfig& config);
std::shared_ptr<CausalLM> make_qwen2(const TextConfig& config);
std::shared_ptr<CausalLM> make_phi3(const TextConfig& config);

}  // namespace imp
