// Attention, masks, RoPE and KV cache; see attention.h.
#include "imp/nn/attention.h"

#include <cmath>
#include <limits>

#include "imp/core/compat.h"
#include "imp/core/error.h"

namespace imp::nn {

AttentionImpl parse_attention_impl(const std::string& name) {
  if (name == "eager") return AttentionImpl::eager;
  if (name == "sdpa" || name == "auto") {
    IMP_CHECK_KIND(compat::kHasSdpa || name == "auto", ErrorKind::usage,
                   "--attn-implementation sdpa needs LibTorch >= 2.0 (this build has ", compat::torch_version(),
                   "); use eager or auto");
    return compat::kHasSdpa ? AttentionImpl::sdpa : AttentionImpl::eager;
  }
  throw Error("unknown attention implementation '" + name + "'; expected auto, eager or sdpa", ErrorKind::usage);
}

namespace {

// HF repeat_kv: [B,Hkv,S,D] -> [B,Hkv*n,S,D], each kv head repeated n times in place.
torch::Tensor repeat_kv(const torch::Tensor& x, int64_t n) {
  if (n == 1) return x;
  const auto s = x.sizes();
  return x.unsqueeze(2).expand({s[0], s[1], n, s[2], s[3]}).reshape({s[0], s[1] * n, s[2], s[3]});
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k_in, const torch::Tensor& v_in,
                        const torch::Tensor& mask, ScoreMode mode, AttentionImpl impl) {
  const int64_t n_rep = q.size(1) / k_in.size(1);
  auto k = repeat_kv(k_in, n_rep);
  auto v = repeat_kv(v_in, n_rep);
  const double d = static_cast<double>(q.size(-1));
  if (impl == AttentionImpl::sdpa) {
    return compat::sdpa(q, k, v, mask.defined() ? c10::optional<torch::Tensor>(mask) : c10::nullopt,
                        /*is_causal=*/false, 1.0 / std::sqrt(d));
  }
  torch::Tensor scores;
  switch (mode) {
    case ScoreMode::fp32_divide:
      scores = torch::matmul(q.to(torch::kFloat32), k.to(torch::kFloat32).transpose(2, 3)) / std::sqrt(d);
      break;
    case ScoreMode::dtype_divide:
      scores = torch::matmul(q, k.transpose(2, 3)) / std::sqrt(d);
      break;
    case ScoreMode::dtype_scale:
      scores = torch::matmul(q, k.transpose(2, 3)) * std::pow(d, -0.5);
      break;
  }
  if (mask.defined()) scores = scores + mask;
  auto probs = torch::softmax(scores, -1, torch::kFloat32).to(v.scalar_type());
  return torch::matmul(probs, v);
}

torch::Tensor causal_mask(const torch::Tensor& mask2d, int64_t q_len, torch::ScalarType dtype,
                          std::optional<int64_t> sliding_window) {
  const int64_t total = mask2d.size(1), past = total - q_len;
  const auto dev = mask2d.device();
  auto qpos = torch::arange(past, total, torch::TensorOptions().dtype(torch::kInt64).device(dev)).unsqueeze(1);
  auto kpos = torch::arange(total, torch::TensorOptions().dtype(torch::kInt64).device(dev)).unsqueeze(0);
  auto hidden = kpos > qpos;  // [T,S]
  if (sliding_window) hidden = hidden.logical_or(qpos - kpos > *sliding_window);
  auto pad = mask2d.to(dev).eq(0).unsqueeze(1);  // [B,1,S]
  auto all = hidden.unsqueeze(0).logical_or(pad).unsqueeze(1);  // [B,1,T,S]
  // finfo(dtype).min, as transformers fills masked positions.
  const double min = dtype == torch::kFloat16    ? static_cast<double>(std::numeric_limits<c10::Half>::lowest())
                     : dtype == torch::kBFloat16 ? static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest())
                                                 : static_cast<double>(std::numeric_limits<float>::lowest());
  auto zeros = torch::zeros(all.sizes(), torch::TensorOptions().dtype(dtype).device(dev));
  return zeros.masked_fill(all, min);
}

Rotary::Rotary(const TextConfig& c)
    : dim_(c.rotary_dim),
      base_(c.rope_theta),
      original_max_(c.original_max_position_embeddings),
      max_(c.max_position_embeddings),
      scaling_(c.rope_scaling) {}

std::pair<torch::Tensor, torch::Tensor> Rotary::tables(const torch::Tensor& position_ids,
                                                       torch::ScalarType dtype) const {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(position_ids.device());
  // inv_freq = 1 / base^(arange(0, dim, 2) / dim), in fp32 as HF builds it.
  auto exponent = torch::arange(0, dim_, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) / static_cast<double>(dim_);
  auto denom = torch::pow(base_, exponent);
  double mscale = 1.0;
  if (!scaling_.type.empty()) {
    // Phi-3 su/longrope/yarn: the long factors once the batch reaches past the original window.
    const int64_t seq_len = position_ids.max().item<int64_t>() + 1;
    const auto& factors = seq_len > original_max_ ? scaling_.long_factor : scaling_.short_factor;
    auto ext = torch::tensor(std::vector<float>(factors.begin(), factors.end()), f32);
    denom = ext * denom;
    const double scale = static_cast<double>(max_) / static_cast<double>(original_max_);
    if (scale > 1.0) {
      mscale = scaling_.type == "yarn" ? 0.1 * std::log(scale) + 1.0
                                       : std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(original_max_)));
    }
  }
  auto inv_freq = torch::reciprocal(denom);
  auto freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [B,T,dim/2]
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos(), sin = emb.sin();
  if (mscale != 1.0) {
    cos = cos * mscale;
    sin = sin * mscale;
  }
  return {cos.to(dtype), sin.to(dtype)};
}

torch::Tensor Rotary::apply(const torch::Tensor& x, const torch::Tensor& cos_in, const torch::Tensor& sin_in) const {
  auto cos = cos_in.unsqueeze(1), sin = sin_in.unsqueeze(1);  // [B,1,T,dim]
  const int64_t half = dim_ / 2;
  auto rot = dim_ == x.size(-1) ? x : x.slice(-1, 0, dim_);
  auto rotated = torch::cat({-rot.slice(-1, half, dim_), rot.slice(-1, 0, half)}, -1);
  auto out = rot * cos + rotated * sin;
  if (dim_ == x.size(-1)) return out;
  return torch::cat({out, x.slice(-1, dim_)}, -1);
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(size_t i, const torch::Tensor& k, const torch::Tensor& v) {
  if (keys[i].defined()) {
    keys[i] = torch::cat({keys[i], k}, 2);
    values[i] = torch::cat({values[i], v}, 2);
  } else {
    keys[i] = k;
    values[i] = v;
  }
  return {keys[i], values[i]};
}

}  // namespace imp::nn
