// --print_memory_plan: what one rank of a training run holds, from the model config and the flags alone
// (nothing is loaded, no torch): weights, gradients, optimizer state and activations, for a world size and
// ZeRO stage. Parameter counts follow imp's model code (tested against built models); activations are the
// estimate of activation_estimate.h (the one --gradient_checkpointing auto uses) for the micro-batch at the
// longest sequence under the --gradient_checkpointing mode. The total is the sum of the parts
// (bench/memory_plan_check.sh compares it with a measured CPU run).
#pragma once

#include <cstdint>
#include <string>

#include "imp/models/config.h"
#include "imp/train/activation_estimate.h"
#include "imp/train/args.h"

namespace imp::train {

struct MemoryPlan {
  std::string model;          // what was planned, e.g. "imp_phi3 (phi3 decoder)"
  int64_t world_size = 1;
  int64_t zero_stage = 0;
  int64_t micro_batch = 1, seq_len = 0;
  int64_t decoder_params = 0, vision_params = 0, projector_params = 0, lora_params = 0;
  int64_t trainable_params = 0, frozen_params = 0;
  int64_t whole_layers = 0;   // decoder layers recomputed whole (auto: what its budget needs; all without one)
  double weights = 0, gradients = 0, optimizer = 0, activations = 0;  // bytes per rank
  double total() const { return weights + gradients + optimizer + activations; }
};

// The config of --model_name_or_path: a config.json file, or a directory holding one (weights not needed).
ModelConfig plan_config(const std::string& model_name_or_path);
// The activation setup these flags give the trainer (dtypes, attention kernel, LoRA, logits chunk).
ActivationSetup activation_setup(const ModelConfig& cfg, const TrainArgs& a, Stage stage);
MemoryPlan plan_memory(const ModelConfig& cfg, const TrainArgs& a, Stage stage, int64_t world_size);
// The human-readable plan (GiB), with the fit on 40 and 80 GB devices.
std::string format_memory_plan(const MemoryPlan& p, Stage stage);

}  // namespace imp::train
