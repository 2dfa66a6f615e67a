#include "imp/train/activation_estimate.h"

#include <algorithm>
#include <sstream>

namespace imp::train {

BatchShape BatchShape::padded(int64_t rows, int64_t length, int64_t images) {
  BatchShape b;
  const double r = static_cast<double>(rows), n = static_cast<double>(length);
  b.positions = r * n;
  b.pairs = r * n * n;
  b.images = static_cast<double>(images);
  return b;
}

BatchShape BatchShape::packed(const std::vector<int64_t>& lengths, int64_t images) {
  BatchShape b;
  for (const int64_t l : lengths) {
    b.positions += static_cast<double>(l);
    b.pairs += static_cast<double>(l) * static_cast<double>(l);
  }
  b.images = static_cast<double>(images);
  return b;
}

LayerActivationBytes layer_activation_bytes(const TextConfig& c, const ActivationSetup& s) {
  const double e = static_cast<double>(s.act_bytes), h = static_cast<double>(c.hidden_size),
               i = static_cast<double>(c.intermediate_size);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim),
               kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
  const bool phi2 = c.arch == Arch::phi2;
  LayerActivationBytes b;
  b.whole = h * static_cast<double>(s.stream_bytes);
  // Kept with selective recomputation: the norms (autocast runs them in fp32: input and output, then the
  // cast the matmuls read), the q/k/v projection outputs, the attention output, the MLP matmul outputs, the
  // residual sums, the residual dropout masks, and LoRA's inputs (dropped-out copy + 1-byte mask) and
  // A-outputs.
  const double norms = phi2 ? h * (4 + 4 + e) : 2 * h * (4 + 4 + e);
  const double mlp = phi2 ? 2 * i * e : 3 * i * e;  // fc1 out + fc2 in | gate, up + down in
  const double masks = c.resid_pdrop > 0 ? 2 * h : 0;
  b.selective = norms + (q + 2 * kv) * e + q * e + mlp + 2 * h * e + masks +
                static_cast<double>(s.lora_dropout_in) * (e + 1) + static_cast<double>(s.lora_ranks) * e;
  // Recomputed by selective recomputation: RoPE intermediates, the attention kernel's saved q/k/v/output,
  // the activation's elementwise intermediates (gelu_new: 4, SwiGLU: 1 of width i); eager attention also
  // keeps scores, softmax output and probabilities per (query, key) pair and head.
  const double rope = 3 * (q + kv) * e;
  const double core = !s.eager ? (2 * q + 2 * kv) * e + 4.0 * static_cast<double>(c.num_attention_heads)
                               : (q + 2 * kv) * e;
  b.none = b.selective + rope + core + (phi2 ? 4 * i * e : i * e);
  b.none_per_pair = !s.eager ? 0 : static_cast<double>(c.num_attention_heads) * (4 + 4 + e + (phi2 ? 0 : e));
  return b;
}

ActivationEstimate estimate_activations(const ModelConfig& cfg, const ActivationSetup& s) {
  ActivationEstimate a;
  a.layers = cfg.text.num_hidden_layers;
  a.layer = layer_activation_bytes(cfg.text, s);
  a.vocab = cfg.text.vocab_size;
  a.hidden = cfg.text.hidden_size;
  a.logits_chunk = s.logits_chunk;
  const double e = static_cast<double>(s.act_bytes), f = static_cast<double>(s.image_bytes);
  const double h = static_cast<double>(cfg.text.hidden_size), mm = static_cast<double>(cfg.mm_hidden_size);
  const auto& v = cfg.vision;
  const double patches = static_cast<double>(v.num_patches());
  // The projector (mlp2x_gelu) keeps the tower's features (and their autocast copy when the tower is in
  // another dtype), its first linear's output and the GELU output.
  a.image_kept = patches * (mm * (f + (s.image_bytes != s.act_bytes ? e : 0)) + 2 * h * e);
  a.image_transient = patches * (4 * static_cast<double>(v.hidden_size) + static_cast<double>(v.intermediate_size) +
                                 static_cast<double>(v.num_attention_heads) * patches) * f;
  return a;
}

double ActivationEstimate::head(const BatchShape& b) const {
  const double scored_rows = b.scored < 0 ? b.positions : std::min(b.scored, b.positions);
  const double rows = logits_chunk > 0 ? std::min(static_cast<double>(logits_chunk), scored_rows) : b.positions;
  return rows * static_cast<double>(vocab) * 4 * 3 + b.positions * static_cast<double>(hidden) * 4;
}

double ActivationEstimate::peak(const BatchShape& b, int64_t n_whole, bool selective) const {
  const int64_t n = std::clamp<int64_t>(n_whole, 0, layers);
  const double rest = static_cast<double>(layers - n);
  double kept = b.positions * (static_cast<double>(n) * layer.whole + rest * (selective ? layer.selective : layer.none));
  if (!selective) kept += rest * b.pairs * layer.none_per_pair;
  // Backward of one layer holds its full set (recomputed where the mode dropped it) and the gradients of its
  // activations (about one more full set) at once.
  const double full_set = b.positions * layer.none + b.pairs * layer.none_per_pair;
  const double kept_by_it = n > 0 ? b.positions * layer.whole : selective ? b.positions * layer.selective : full_set;
  const double transient = layers > 0 ? 2 * full_set - kept_by_it : 0;
  const double decoder = kept + std::max(transient, head(b)) + b.images * image_kept;
  return std::max(decoder, b.images * image_transient);
}

double CheckpointPlan::estimate_bytes(const BatchShape& b, int64_t n_whole) const {
  return fixed_bytes + activations.peak(b, n_whole, true);
}

int64_t CheckpointPlan::full_layers(const BatchShape& b) const {
  for (int64_t n = 0; n < activations.layers; ++n)
    if (estimate_bytes(b, n) <= budget_bytes) return n;
  return activations.layers;
}

std::string CheckpointPlan::describe() const {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0, kMiB = 1024.0 * 1024.0;
  std::ostringstream s;
  s.precision(3);
  const auto& l = activations.layer;
  s << "budget " << budget_bytes / kGiB << " GiB, fixed " << fixed_bytes / kGiB << " GiB, per 1k positions and layer "
    << l.selective * 1000 / kMiB << " MiB selective / " << l.whole * 1000 / kMiB << " MiB whole / " << l.none * 1000 / kMiB
    << " MiB kept whole";
  return s.str();
}

}  // namespace imp::train
