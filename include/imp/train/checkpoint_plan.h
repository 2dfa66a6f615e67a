// --gradient_checkpointing auto: how many decoder layers to recompute whole so that a micro-batch fits a
// memory budget, the rest under selective recomputation (docs/training-flags.md "gradient_checkpointing").
// The activation sizes are an estimate from the model's widths (what each mode keeps per position and
// layer); the fixed part (weights, gradients, AdamW state, the process) is measured.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "imp/models/config.h"
#include "imp/nn/attention.h"

namespace imp::train {

// Estimated bytes one decoder layer keeps for backward.
struct LayerActivationBytes {
  double whole = 0;          // per position, a layer recomputed whole (its input only)
  double selective = 0;      // per position, under selective recomputation (the matmul outputs, norms, LoRA)
  double none = 0;           // per position, nothing recomputed (adds the attention core and MLP activation)
  double none_per_pair = 0;  // per (query, key) pair of a row, nothing recomputed (eager attention scores)
};

struct CheckpointPlan {
  double budget_bytes = 0;  // peak memory to plan for
  double fixed_bytes = 0;   // weights, gradients, optimizer state and the rest of the process
  int64_t layers = 0;
  LayerActivationBytes layer;
  // Whole-layer recomputations needed for a micro-batch of rows x length positions (0..layers): the
  // smallest N with fixed + N whole + (layers - N) selective layers + one layer recomputed in backward
  // <= budget; `layers` when even that does not fit.
  int64_t full_layers(int64_t rows, int64_t length) const;
  // The estimated peak with N whole layers.
  double estimate_bytes(int64_t rows, int64_t length, int64_t n_whole) const;
  std::string describe() const;
};

// Per-layer estimate for this decoder: compute dtype of `act_bytes` (2 under bf16/fp16 autocast, 4 in fp32),
// the attention kernel, and the LoRA adapters of one layer: lora_dropout_in = the summed input widths of
// adapted linears with dropout (each keeps its dropped-out input), lora_ranks = their summed ranks.
LayerActivationBytes layer_activation_bytes(const TextConfig& c, int64_t act_bytes, nn::AttentionImpl impl,
                                            int64_t lora_dropout_in, int64_t lora_ranks);

// budget_gb > 0: that; 0: 90% of the device memory (CUDA: total; CPU: this process's resident memory plus
// what the system has available). fixed: resident memory (CPU) or allocated tensors (CUDA) now, plus
// the gradients and AdamW state of `trainable_numel` fp32 parameters still to come.
CheckpointPlan make_checkpoint_plan(const TextConfig& c, torch::nn::Module& root, const torch::Device& device,
                            int64_t act_bytes, nn::AttentionImpl impl, double budget_gb, int64_t trainable_numel);

}  // namespace imp::train
