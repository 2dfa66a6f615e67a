// imp merge: base model + PEFT LoRA directory -> one HF model directory (imp-reference 6): the LoRA run's
// config.json, the projector from non_lora_trainables, W + scaling * B @ A in fp32 rounded once to the
// base weights' dtype (as PEFT's merge_and_unload), sharded safetensors, generation_config.json and
// tokenizer files from the base.
#pragma once

#include <string>

namespace imp::train {

struct MergeOptions {
  std::string model_path;       // the LoRA directory (adapter_config.json, adapter_model.safetensors, config.json)
  std::string model_base;       // the base: decoder-only or Imp multimodal directory
  std::string save_model_path;  // output directory
  std::string dtype = "auto";   // auto (= the base weights' dtype) | float16 | bfloat16 | float32
  double max_shard_mb = 1024;   // HF "1024MB" (decimal)
};

void run_merge(const MergeOptions& o);

}  // namespace imp::train
