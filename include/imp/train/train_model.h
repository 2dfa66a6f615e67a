// The model a training stage works on (imp-reference 5.3/5.4): assembly (an Imp directory, or a decoder
// plus a SigLIP tower and a new projector), projector init from stage 1, LoRA on every decoder linear
// layer incl. lm_head, what is trainable, LLaVATrainer's four parameter groups, and the artefacts each
// stage writes (projector safetensors, PEFT adapter, HF model directory).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/core/json.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/train/args.h"
#include "imp/train/optimizer.h"

namespace imp::train {

struct TrainModel {
  std::unique_ptr<ImpModel> model;
  Json config;                           // config.json to save (Imp's mm_* fields filled in)
  std::string tokenizer_dir;             // where the tokenizer files are
  std::vector<std::string> lora_targets; // find_all_linear_names (PEFT target_modules), LoRA runs only
  std::vector<NamedParam> trainable;     // name = checkpoint name under the root module
  std::vector<ParamGroup> groups;
};

// Builds the model on `device` (set_recompute_policy is left to the caller), seeded for the new parts: fp32, except that with --bf16/--fp16 and --half_base
// a pretrain or finetune-lora run stores its frozen weights in that dtype (cast_frozen_weights).
TrainModel build_train_model(const TrainArgs& a, Stage stage, const torch::Device& device);

// Casts every floating-point parameter that does not require grad to `dtype` in place (the tensors keep
// their identity, so tied weights stay tied). Imp's train.py: model.to(bf16/fp16) with fp32 adapters.
void cast_frozen_weights(torch::nn::Module& root, torch::ScalarType dtype);

// --gradient_checkpointing none | full | selective | auto (include/imp/train/checkpoint_plan.h) on the decoder.
// Call after the model is on its device with its final weight dtypes and trainables; world_size: the ranks
// sharing ZeRO-1 optimizer state.
void set_recompute_policy(ImpModel& model, const TrainArgs& a, Stage stage, int64_t world_size,
                          const torch::Device& device);

// Decoder linear layers' last name components, skipping the tower and projector (find_all_linear_names).
std::vector<std::string> find_all_linear_names(torch::nn::Module& root);

// State of what a checkpoint must hold: every trainable tensor by name.
StateDict trainable_state(const TrainModel& tm);
void load_trainable_state(TrainModel& tm, const StateDict& sd, const std::string& origin);

// Final artefacts (rank 0), written atomically into `dir` (which must exist):
//  pretrain: mm_projector.safetensors (model.mm_projector.*) + config.json
//  finetune-lora: adapter_config.json, adapter_model.safetensors, non_lora_trainables.safetensors, config.json
//  (mm_projector.bin / non_lora_trainables.bin too: the same tensors for Python Imp's torch.load)
//  finetune: HF model directory (sharded safetensors + index, config.json, generation_config.json, tokenizer)
void save_stage_outputs(const TrainModel& tm, const TrainArgs& a, Stage stage, const std::string& dir);

// Copies tokenizer files (tokenizer.json, tokenizer_config.json, vocab.json, merges.txt, ...) that exist.
void copy_tokenizer_files(const std::string& from_dir, const std::string& to_dir);

}  // namespace imp::train
