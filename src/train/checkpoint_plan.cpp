#include "imp/train/checkpoint_plan.h"

#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "imp/core/build_info.h"
#include "imp/nn/layers.h"

namespace imp::train {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Linux: kB values of /proc/meminfo ("MemAvailable") and this process's resident bytes.
double meminfo_bytes(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) * 1024.0;
  return 0;
}

double resident_bytes() {
  std::ifstream f("/proc/self/statm");
  double size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace

LayerActivationBytes layer_activation_bytes(const TextConfig& c, int64_t act_bytes, nn::AttentionImpl impl,
                                            int64_t lora_dropout_in, int64_t lora_ranks) {
  const double e = static_cast<double>(act_bytes), h = static_cast<double>(c.hidden_size),
               i = static_cast<double>(c.intermediate_size);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim),
               kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
  const bool phi2 = c.arch == Arch::phi2;
  LayerActivationBytes b;
  b.whole = h * e;  // the layer's input
  // Kept with selective recomputation: the norms (fp32 statistics and casts), the q/k/v projection outputs,
  // the attention output, the MLP matmul outputs, the residual sums, dropout masks and LoRA's inputs.
  const double norms = phi2 ? h * (4 + 4 + e) : 2 * h * (4 + 4 + e);
  const double mlp = phi2 ? 2 * i * e : 3 * i * e;  // fc1 out + fc2 in | gate, up + down in
  const double masks = c.resid_pdrop > 0 ? 2 * h : 0;
  b.selective = norms + (q + 2 * kv) * e + q * e + mlp + 2 * h * e + masks +
                static_cast<double>(lora_dropout_in + lora_ranks) * e;
  // Recomputed by selective recomputation: RoPE intermediates, the attention kernel's saved q/k/v/output,
  // the activation's elementwise intermediates (gelu_new: 4, SwiGLU: 1 of width i); eager attention also
  // keeps scores, softmax output and probabilities per (query, key) pair and head.
  const double rope = 3 * (q + kv) * e;
  const double core = impl == nn::AttentionImpl::sdpa ? (2 * q + 2 * kv) * e + 4.0 * c.num_attention_heads
                                                      : (q + 2 * kv) * e;
  b.none = b.selective + rope + core + (phi2 ? 4 * i * e : i * e);
  b.none_per_pair =
      impl == nn::AttentionImpl::sdpa ? 0 : static_cast<double>(c.num_attention_heads) * (4 + 4 + e + (phi2 ? 0 : e));
  return b;
}

double CheckpointPlan::estimate_bytes(int64_t rows, int64_t length, int64_t n_whole) const {
  const double pos = static_cast<double>(rows) * static_cast<double>(length);
  const double pairs = pos * static_cast<double>(length);
  const double kept = pos * (static_cast<double>(n_whole) * layer.whole +
                             static_cast<double>(layers - n_whole) * layer.selective);
  // In backward one layer at a time holds everything: a whole-layer recomputation, or the attention core
  // and activation of a selective one.
  const double transient = pos * layer.none + pairs * layer.none_per_pair;
  return fixed_bytes + kept + transient;
}

int64_t CheckpointPlan::full_layers(int64_t rows, int64_t length) const {
  for (int64_t n = 0; n < layers; ++n)
    if (estimate_bytes(rows, length, n) <= budget_bytes) return n;
  return layers;
}

std::string CheckpointPlan::describe() const {
  std::ostringstream s;
  s.precision(3);
  s << "budget " << budget_bytes / kGiB << " GiB, fixed " << fixed_bytes / kGiB << " GiB, per 1k positions and layer "
    << layer.selective * 1000 / (1 << 20) << " MiB selective / " << layer.whole * 1000 / (1 << 20) << " MiB whole / "
    << layer.none * 1000 / (1 << 20) << " MiB kept whole";
  return s.str();
}

CheckpointPlan make_checkpoint_plan(const TextConfig& c, torch::nn::Module& root, const torch::Device& device,
                            int64_t act_bytes, nn::AttentionImpl impl, double budget_gb, int64_t trainable_numel) {
  CheckpointPlan plan;
  plan.layers = c.num_hidden_layers;
  int64_t dropout_in = 0, ranks = 0;
  for (auto& item : root.named_modules()) {
    if (item.key().rfind("model.layers.0.", 0) != 0) continue;  // one layer's adapters
    auto* lin = dynamic_cast<nn::LinearImpl*>(item.value().get());
    if (!lin || !lin->has_lora()) continue;
    ranks += lin->lora_A->weight.size(0);
    if (lin->lora_dropout() > 0) dropout_in += lin->lora_A->weight.size(1);
  }
  plan.layer = layer_activation_bytes(c, act_bytes, impl, dropout_in, ranks);
  const double later = static_cast<double>(trainable_numel) * 4 * 3;  // gradients + AdamW m and v, fp32
  if (device.is_cuda()) {
    double tensors = 0;
    for (const auto& p : root.parameters()) tensors += static_cast<double>(p.numel() * p.element_size());
    plan.fixed_bytes = tensors + later;
    plan.budget_bytes = budget_gb > 0 ? budget_gb * kGiB : 0.9 * cuda_total_memory_bytes(device.has_index() ? device.index() : 0);
  } else {
    const double rss = resident_bytes();
    plan.fixed_bytes = rss + later;
    plan.budget_bytes = budget_gb > 0 ? budget_gb * kGiB : 0.9 * (rss + meminfo_bytes("MemAvailable"));
  }
  return plan;
}

}  // namespace imp::train
