// Training-step FLOP count and device peaks (include/imp/train/flops.h).
#include "imp/train/flops.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "imp/core/build_info.h"
#include "imp/core/strings.h"
#include "imp/models/config.h"
#include "imp/nn/layers.h"

namespace imp::train {
namespace {

// Forward and backward FLOPs per row of a linear (weight w; trained; gradients flow through its input).
void linear_flops(double weights, bool trained, bool flows, double& fwd, double& bwd) {
  fwd += 2 * weights;
  bwd += trained ? 4 * weights : flows ? 2 * weights : 0;
}

}  // namespace

StepFlops train_step_flops(torch::nn::Module& root, const ModelConfig& cfg, const StepShape& shape,
                           double whole_fraction, bool selective) {
  // Gradients flow through the decoder when anything but the vision tower trains; through the tower only
  // when the tower itself trains.
  bool decoder_flows = false, tower_flows = false;
  for (const auto& item : root.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    (starts_with(item.key(), "model.vision_tower.") ? tower_flows : decoder_flows) = true;
  }
  const double tokens = static_cast<double>(shape.positions);
  const double patches = static_cast<double>(shape.images) * static_cast<double>(cfg.vision.num_patches());
  double fwd = 0, bwd = 0, recompute = 0;
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    auto* lin = dynamic_cast<nn::LinearImpl*>(item.value().get());
    if (lin == nullptr) continue;
    const std::string& path = item.key();
    const bool tower = starts_with(path, "model.vision_tower."), projector = starts_with(path, "model.mm_projector.");
    if (path.find(".lora_") != std::string::npos) continue;  // counted with their base layer
    const double rows = tower || projector ? patches
                        : path == "lm_head" && shape.scored >= 0 ? static_cast<double>(shape.scored)
                                                                  : tokens;
    const bool flows = tower ? tower_flows : (projector ? tower_flows : decoder_flows);
    double f = 0, b = 0;
    linear_flops(static_cast<double>(lin->weight.numel()), lin->weight.requires_grad(), flows, f, b);
    if (lin->has_lora()) {
      const double r_weights = static_cast<double>(lin->lora_A->weight.numel() + lin->lora_B->weight.numel());
      linear_flops(r_weights, lin->lora_A->weight.requires_grad(), flows, f, b);
    }
    fwd += rows * f;
    bwd += rows * b;
    if (starts_with(path, "model.layers.")) recompute += whole_fraction * rows * f;
  }
  // SigLIP's patch embedding: a convolution that is one linear of C·P·P x D per patch.
  const auto& v = cfg.vision;
  double f = 0, b = 0;
  linear_flops(static_cast<double>(v.num_channels * v.patch_size * v.patch_size * v.hidden_size), tower_flows,
               tower_flows, f, b);
  fwd += patches * f;
  bwd += patches * b;
  // Attention scores and weighted sums.
  const auto& t = cfg.text;
  const double d_text = static_cast<double>(t.num_attention_heads * t.head_dim);
  const double text_attn = 4.0 * shape.position_pairs * d_text * static_cast<double>(t.num_hidden_layers);
  const double p = static_cast<double>(cfg.vision.num_patches());
  const double tower_attn = 4.0 * static_cast<double>(shape.images) * p * p *
                            static_cast<double>(cfg.vision.hidden_size * cfg.vision_layers_kept());
  fwd += text_attn + tower_attn;
  bwd += (decoder_flows ? 2 * text_attn : 0) + (tower_flows ? 2 * tower_attn : 0);
  recompute += (selective ? 1.0 : whole_fraction) * text_attn;  // selective: the attention core of every layer
  return {fwd + bwd, fwd + bwd + recompute};
}

PeakFlops peak_flops(const torch::Device& device, torch::ScalarType dtype) {
  const bool half = dtype == torch::kBFloat16 || dtype == torch::kHalf;
  if (device.is_cuda()) {
    // Dense tensor-core peak (bf16/fp16 with fp32 accumulation) and plain fp32 (TF32 off), from the
    // vendors' data sheets (SXM parts unless named).
    struct Entry { const char* name; double half, fp32; };
    static const Entry table[] = {{"H100 PCIe", 756e12, 51e12}, {"H100 NVL", 835e12, 60e12},
                                  {"H100", 989e12, 67e12},      {"H200", 989e12, 67e12},
                                  {"A100", 312e12, 19.5e12},    {"L40S", 362e12, 91.6e12}};
    const std::string name = gpu_name(device.has_index() ? device.index() : 0);
    for (const auto& e : table)
      if (name.find(e.name) != std::string::npos)
        return {half ? e.half : e.fp32, name + (half ? " bf16/fp16" : " fp32") + " dense peak (data sheet)"};
    return {-1, "no peak figure for GPU '" + name + "'"};
  }
  static std::mutex mu;
  static std::map<int, PeakFlops> measured;
  std::lock_guard<std::mutex> lock(mu);
  auto it = measured.find(static_cast<int>(dtype));
  if (it != measured.end()) return it->second;
  // The best of a few large matmuls on the intra-op threads imp uses.
  torch::NoGradGuard no_grad;
  const int64_t n = 1024;
  // Deterministic operands: drawing them from the global generator would change a training run's dropout.
  auto a = torch::linspace(-1, 1, n * n).reshape({n, n}).to(half ? dtype : torch::kFloat32), b = a.t().contiguous();
  double best = 1e30;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = torch::mm(a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) best = std::min(best, s);
  }
  PeakFlops r{2.0 * n * n * n / best, std::string("measured 1024^3 ") + c10::toString(a.scalar_type()) + " matmul, " +
                                          std::to_string(torch::get_num_threads()) + " threads"};
  measured[static_cast<int>(dtype)] = r;
  return r;
}

}  // namespace imp::train
