// imp pretrain | finetune-lora | finetune (flags parsed by imp::train::parse_train_args, which knows the
// HF/Imp spellings, booleans and --config files) and imp merge.
#include <algorithm>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "imp/cli/registry.h"
#include "imp/core/error.h"
#include "imp/train/args.h"
#include "imp/train/memory_plan.h"
#include "imp/train/merge.h"
#include "imp/train/trainer.h"

namespace imp::cli {
namespace {

void add_stage(CLI::App& root, Commands& out, train::Stage stage, const std::string& description) {
  auto* c = root.add_subcommand(train::stage_name(stage), description);
  c->set_help_flag();     // --help is one of the training flags (printed by run below)
  c->allow_extras();
  c->prefix_command();    // every argument goes to parse_train_args untouched
  c->footer("Flags: Imp/LLaVA train.py names (run with --help for the list).");
  out.push_back({c, [c, stage]() {
                   const auto parsed = train::parse_train_args(stage, c->remaining());
                   if (parsed.help) {
                     std::cout << train::train_args_help(stage);
                     return 0;
                   }
                   if (parsed.print_memory_plan) {
                     int64_t world = parsed.plan_world_size;
                     if (world == 0) {
                       const char* env = std::getenv("WORLD_SIZE");
                       world = env ? std::max(1, std::atoi(env)) : 1;
                     }
                     const auto cfg = train::plan_config(parsed.args.model_name_or_path);
                     std::cout << train::format_memory_plan(train::plan_memory(cfg, parsed.args, stage, world), stage);
                     return 0;
                   }
                   if (parsed.print_config) {
                     std::cout << parsed.args.to_json().dump(2) << "\n";
                     return 0;
                   }
#ifdef IMP_WITH_OPENCV
                   return train::run_training(stage, parsed.args, parsed.notices);
#else
                   throw Error("training reads images: rebuild imp with -DIMP_WITH_OPENCV=ON", ErrorKind::usage);
#endif
                 }});
}

}  // namespace

void add_train_commands(CLI::App& root, Commands& out) {
  add_stage(root, out, train::Stage::pretrain,
            "Stage 1: train the projector on image-caption pairs (Imp's scripts/pretrain.sh)");
  add_stage(root, out, train::Stage::finetune_lora,
            "Stage 2: LoRA on every decoder linear layer + the projector (scripts/finetune_lora.sh)");
  add_stage(root, out, train::Stage::finetune, "Stage 2, full: the whole decoder + the projector (scripts/finetune.sh)");

  auto opts = std::make_shared<train::MergeOptions>();
  auto* m = root.add_subcommand("merge", "Merge a LoRA run into its base model (a plain HF model directory)");
  m->add_option("--model-path,--model_path", opts->model_path, "LoRA directory (imp finetune-lora output)")->required();
  m->add_option("--model-base,--model_base", opts->model_base, "the base model the LoRA was trained on")->required();
  m->add_option("--save-model-path,--save_model_path", opts->save_model_path, "output directory")->required();
  m->add_option("--dtype", opts->dtype, "auto (the base's) | float16 | bfloat16 | float32")->capture_default_str();
  m->add_option("--max-shard-size-mb", opts->max_shard_mb, "shard size in MB (decimal, as HF's \"1024MB\")")
      ->capture_default_str();
  out.push_back({m, [opts]() {
                   train::run_merge(*opts);
                   return 0;
                 }});
}

}  // namespace imp::cli
