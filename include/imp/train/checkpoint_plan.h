// --gradient_checkpointing auto at run time (docs/training-flags.md "gradient_checkpointing"): the plan of
// activation_estimate.h with the activation setup read from the built model, the fixed part (weights,
// gradients, optimizer state, ZeRO-1 sharding) from the memory plan (memory_plan.h) and, on a CPU, the rest of
// the process measured.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "imp/models/imp_model.h"
#include "imp/train/activation_estimate.h"
#include "imp/train/args.h"

namespace imp::train {

// What the model really stores: the autocast dtype (half_autocast: bf16/fp16), the embedding's dtype (the
// residual stream), the tower's, the attention kernel and layer 0's LoRA adapters.
ActivationSetup activation_setup(ImpModel& model, bool half_autocast, int64_t logits_chunk);

// budget: a.memory_budget_gb, or 0 for 90% of the device memory (CUDA: total; CPU: this process's resident
// memory plus what the system has available). fixed: plan_memory(weights + gradients + optimizer state) for
// `world_size` ranks, plus on a CPU the rest of the process: process_bytes, or when < 0 the resident memory
// that is not the model's parameters.
CheckpointPlan make_checkpoint_plan(ImpModel& model, const TrainArgs& a, Stage stage, int64_t world_size,
                                    const torch::Device& device, double process_bytes = -1);

}  // namespace imp::train
