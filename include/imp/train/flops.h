// FLOPs of a training step and the device peak they are measured against (MFU), README "MFU".
//
// Per token, a linear layer of N weights costs 2N forward. Backward: 4N when its weight is trained (input
// and weight gradients), 2N when it is frozen but gradients must flow through it (everything of the
// decoder once anything at or before it trains: LoRA, the projector), 0 when nothing upstream trains
// (the vision tower in Imp's recipes). So trained weights count 6N, frozen ones with activation gradients
// 4N, forward-only parts 2N. LoRA's A and B are trained linears of rank r. Attention adds 4·T²·d forward
// per layer and row (QKᵀ and AV over the full T x T, as PaLM and Megatron count), twice that backward.
// Gradient checkpointing recomputes each decoder layer's forward: counted in `hardware` (HFU), not in
// `model` (MFU), so MFU compares setups by useful work. Shapes are the computed ones (padding included).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace torch::nn {
class Module;
}

namespace imp {
struct ModelConfig;
}

namespace imp::train {

struct StepShape {
  int64_t positions = 0;      // decoder positions computed: rows x padded length after the image splice
  double position_pairs = 0;  // sum over rows of length^2 (attention)
  int64_t images = 0;         // images through the vision tower
  int64_t scored = -1;        // rows through lm_head (labelled positions only, --logits_chunk_size); -1: all positions
  void add_rows(int64_t rows, int64_t length, int64_t n_images) {
    positions += rows * length;
    position_pairs += static_cast<double>(rows) * static_cast<double>(length) * static_cast<double>(length);
    images += n_images;
  }
};

struct StepFlops {
  double model = 0;     // forward + backward, recomputation excluded (MFU)
  double hardware = 0;  // model + the recomputed forwards of checkpointed layers (HFU)
};

// Walks the model's linear layers (nn::Linear, with their LoRA A/B; SigLIP's patch embedding counts as one)
// and reads which parameters require grad.
// whole_fraction: the share of decoder layers recomputed whole (1 = gradient checkpointing on every layer);
// selective: the other layers recompute their attention core (the elementwise work is not counted).
StepFlops train_step_flops(torch::nn::Module& root, const ModelConfig& cfg, const StepShape& shape,
                           double whole_fraction, bool selective = false);

struct PeakFlops {
  double flops_per_s = -1;  // < 0: unknown
  std::string source;       // e.g. "NVIDIA H100 80GB HBM3 bf16 dense (table)" or "measured 1024^3 fp32 matmul"
};
// Dense peak of `device` for matmuls in `dtype` (bf16/fp16 autocast or fp32 without TF32): a table for
// A100, H100, H200 and L40S; on the CPU a measured large matmul (once per process and dtype).
PeakFlops peak_flops(const torch::Device& device, torch::ScalarType dtype);

}  // namespace imp::train
