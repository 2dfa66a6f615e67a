// Rotary position embeddings, attention masks, the KV cache and the one attention function every
// model uses (eager paths that match HF eager numerics, plus the fused SDPA kernel where available).
#pragma once

#include <optional>
#include <vector>

#include <torch/torch.h>

#include "imp/models/config.h"

namespace imp::nn {

// How the attention scores are formed; each mirrors one HF eager implementation exactly.
enum class ScoreMode {
  fp32_divide,   // Phi-2: q,k upcast to fp32, / sqrt(d)
  dtype_divide,  // Qwen2, Phi-3: in the model dtype, / sqrt(d)
  dtype_scale,   // SigLIP: in the model dtype, * d^-0.5
};

enum class AttentionImpl { eager, sdpa };
// "auto" picks sdpa when this LibTorch has it, else eager.
AttentionImpl parse_attention_impl(const std::string& name);

// Attention over q [B,H,T,D], k/v [B,Hkv,S,D] (Hkv divides H); `mask` is additive [B,1,T,S] in the
// model dtype (0 = visible, finfo.min = hidden) or undefined (no mask). Returns [B,H,T,D].
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, ScoreMode mode, AttentionImpl impl);

// Additive causal mask [B,1,T,P+T] for T new queries after P cached keys, hiding padded keys
// (mask2d [B,P+T], 1 = real token) and, with a sliding window W, keys more than W positions back
// (transformers 4.41 rule: key j is visible from query i when 0 <= i - j <= W).
torch::Tensor causal_mask(const torch::Tensor& mask2d, int64_t q_len, torch::ScalarType dtype,
                          std::optional<int64_t> sliding_window = std::nullopt);

// Rotary tables for the decoders. cos/sin: [B,T,rotary_dim] in the requested dtype.
class Rotary {
 public:
  explicit Rotary(const TextConfig& config);
  std::pair<torch::Tensor, torch::Tensor> tables(const torch::Tensor& position_ids, torch::ScalarType dtype) const;
  // x [B,H,T,D]: rotates the first rotary_dim features (rotate_half, non-interleaved).
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;
  int64_t rotary_dim() const { return dim_; }

 private:
  int64_t dim_;
  double base_;
  int64_t original_max_, max_;
  RopeScaling scaling_;
};

// Per-layer keys/values stored after RoPE, [B,Hkv,S,D], grown along S at every decode step.
struct KVCache {
  std::vector<torch::Tensor> keys, values;
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
  void reset(size_t layers) {
    keys.assign(layers, torch::Tensor());
    values.assign(layers, torch::Tensor());
  }
  // Appends k/v of layer i and returns the full keys/values.
  std::pair<torch::Tensor, torch::Tensor> append(size_t i, const torch::Tensor& k, const torch::Tensor& v);
};

}  // namespace imp::nn
