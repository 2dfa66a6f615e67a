// Flags and readers shared by the training tests (CPU integration and GPU): the settings of the tiny
// training fixture (tests/data/train, models/train_phi2, made by scripts/make_train_fixtures.py).
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include "imp/core/json.h"
#include "test_utils.h"

namespace imp::test {

// The settings of tests/data/golden/train_lora_phi2.json (scripts/make_train_fixtures.py).
// init_adapter: start from tests/data/train/lora_init (whose dropout is 0, as the reference's); false: fresh
// LoRA from the seed, so --lora_dropout takes effect. The device is explicit: "auto" would pick a GPU.
inline std::string lora_flags(const std::string& out, int steps, bool init_adapter = true,
                              const std::string& device = "cpu") {
  return "finetune-lora --model_name_or_path " + model_dir("train_phi2") + " --version phi2 --data_path " +
         data_path("train/data.json") + " --image_folder " + data_path("train/images") + " --output_dir " + out +
         (init_adapter ? " --lora_weight_path " + data_path("train/lora_init") : std::string()) +
         " --lora_r 4 --lora_alpha 8 --lora_dropout 0 --mm_projector_lr 5e-4 --learning_rate 1e-3"
         " --weight_decay 0.01 --warmup_ratio 0.1 --lr_scheduler_type cosine --max_grad_norm 1.0"
         " --per_device_train_batch_size 2 --gradient_accumulation_steps 2 --model_max_length 128"
         " --train_sampler sequential --gradient_checkpointing False --seed 0 --num_threads 1 --logging_steps 1"
         " --device " + device + " --max_steps " + std::to_string(steps);
}

inline std::string pretrain_flags(const std::string& out, int steps) {
  return "pretrain --model_name_or_path " + model_dir("train_phi2") + " --version plain --data_path " +
         data_path("train/pretrain.json") + " --image_folder " + data_path("train/images") + " --output_dir " + out +
         " --learning_rate 1e-3 --weight_decay 0.01 --warmup_ratio 0.1 --lr_scheduler_type cosine"
         " --max_grad_norm 1.0 --per_device_train_batch_size 2 --gradient_accumulation_steps 2"
         " --model_max_length 128 --train_sampler sequential --gradient_checkpointing False --seed 0"
         " --num_threads 1 --logging_steps 1 --device cpu --max_steps " + std::to_string(steps);
}

inline std::vector<Json> metrics(const std::string& out) {
  std::ifstream in(out + "/metrics.jsonl");
  std::vector<Json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(Json::parse(line));
  return rows;
}

}  // namespace imp::test
