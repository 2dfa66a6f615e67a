// --config files (typed keys in either spelling, flags override them) and to_json / from_json.
#include "helpers.h"

namespace imp::train::test {
namespace {

using nlohmann::json;

TEST(TrainArgsConfig, FileValuesAndFlagOverridesInAnyOrder) {
  std::string path = write_temp("cfg.json", R"({
    "model_name_or_path": "checkpoints/base/phi-2",
    "data-path": "datasets/mix.json",
    "output_dir": "ckpt",
    "learning_rate": 2e-4,
    "lora_r": 256,
    "lora-alpha": 256,
    "group_by_modality_length": true,
    "mm_projector_lr": 2e-5,
    "save_total_limit": null,
    "report_to": "tensorboard",
    "dist_timeout": "5m",
    "seed": 3
  })");
  // The flag comes before --config and still wins.
  auto p = parse_train_args(Stage::finetune_lora, {"--seed", "11", "--config", path, "--lora_r=128"});
  const TrainArgs& a = p.args;
  EXPECT_EQ(a.model_name_or_path, "checkpoints/base/phi-2");
  EXPECT_EQ(a.data_path, "datasets/mix.json");
  EXPECT_EQ(a.output_dir, "ckpt");
  EXPECT_DOUBLE_EQ(a.learning_rate, 2e-4);
  EXPECT_EQ(a.lora_r, 128);
  EXPECT_DOUBLE_EQ(a.lora_alpha, 256.0);
  EXPECT_TRUE(a.group_by_modality_length);
  EXPECT_EQ(a.mm_projector_lr, std::optional<double>(2e-5));
  EXPECT_FALSE(a.save_total_limit.has_value());
  EXPECT_EQ(a.report_to, std::vector<std::string>{"tensorboard"});
  EXPECT_EQ(a.ddp_timeout, 300);
  EXPECT_EQ(a.seed, 11);
  EXPECT_TRUE(a.lora_enable);  // the stage default survives a config that does not mention it
  // --config=path works too, and the file's keys are validated like flags.
  EXPECT_EQ(parse_train_args(Stage::finetune_lora, {"--config=" + path}).args.seed, 3);
}

TEST(TrainArgsConfig, FileCanSetStageConflictsWhichAreRejected) {
  std::string path = write_temp("stage.json", R"({"model_name_or_path": "m", "data_path": "d", "output_dir": "o",
                                                 "lora_enable": false})");
  EXPECT_TRUE(throws_error([&] { parse_train_args(Stage::finetune_lora, {"--config", path}); }, ErrorKind::usage,
                           {"--lora_enable"}));
  // ...unless a flag overrides it.
  EXPECT_TRUE(parse_train_args(Stage::finetune_lora, {"--config", path, "--lora_enable"}).args.lora_enable);
}

TEST(TrainArgsConfig, NoticesFromTheFile) {
  std::string path = write_temp("notice.json", R"({"deepspeed": "zero3.json", "report_to": ["wandb"]})");
  auto p = parse_with(Stage::finetune, {"--config", path});
  EXPECT_TRUE(has_notice(p, "--deepspeed zero3.json"));
  EXPECT_TRUE(has_notice(p, "--report_to wandb"));
  EXPECT_TRUE(p.args.report_to.empty());
}

TEST(TrainArgsConfig, BadFilesNameTheFileAndKey) {
  auto bad = [](const std::string& name, const std::string& text, std::vector<std::string> needles) {
    std::string path = write_temp(name, text);
    needles.insert(needles.begin(), path);
    return throws_error([&] { parse_with(Stage::finetune, {"--config", path}); }, ErrorKind::input, needles);
  };
  EXPECT_TRUE(bad("malformed.json", "{\n  \"seed\": 1,\n  oops\n}", {":3:", "malformed JSON"}));
  EXPECT_TRUE(bad("array.json", "[1, 2]", {"JSON object"}));
  EXPECT_TRUE(bad("type_lr.json", R"({"learning_rate": "fast"})", {"key 'learning_rate'", "number", "'fast'"}));
  EXPECT_TRUE(bad("type_seed.json", R"({"seed": 1.5})", {"key 'seed'", "integer"}));
  EXPECT_TRUE(bad("type_bool.json", R"({"fp16": "True"})", {"key 'fp16'", "boolean"}));
  EXPECT_TRUE(bad("type_null.json", R"({"learning_rate": null})", {"key 'learning_rate'", "number"}));
  EXPECT_TRUE(bad("type_list.json", R"({"report_to": [1]})", {"key 'report_to'"}));
  EXPECT_TRUE(bad("unknown.json", R"({"learnig_rate": 1e-4})", {"unknown key 'learnig_rate'", "did you mean 'learning_rate'"}));
  EXPECT_TRUE(bad("nested.json", R"({"config": "other.json"})", {"unknown key 'config'"}));
  EXPECT_TRUE(bad("dup.json", R"({"seed": 1, "seed": 2})", {"duplicate key 'seed'"}));
  EXPECT_TRUE(bad("twice.json", R"({"lora_r": 1, "lora-r": 2})", {"keys 'lora-r' and 'lora_r' both set lora_r"}));
  EXPECT_TRUE(bad("choice.json", R"({"optim": "sgd"})", {"key 'optim'", "'sgd'"}));
  EXPECT_TRUE(throws_error([] { parse_with(Stage::finetune, {"--config", "/nonexistent/imp_cfg.json"}); },
                           ErrorKind::io, {"/nonexistent/imp_cfg.json"}));
}

// Every field with a non-default, valid value: from_json -> to_json must give it back unchanged, which
// also proves that no two keys write the same member.
json every_field_changed() {
  return {
      {"model_name_or_path", "m"}, {"version", "qwen1.5"}, {"vision_tower", "siglip"},
      {"pretrain_mm_mlp_adapter", "p.bin"}, {"mm_projector_type", "linear"}, {"mm_vision_select_layer", -1},
      {"mm_vision_select_feature", "patch"}, {"mm_use_im_start_end", true}, {"mm_use_im_patch_token", true},
      {"tune_mm_mlp_adapter", true}, {"freeze_mm_mlp_adapter", true}, {"unfreeze_mm_vision_tower", true},
      {"freeze_backbone", true},
      {"attn_implementation", "sdpa"}, {"tokenizer", "tok"}, {"data_path", "d.json"}, {"image_folder", "img"},
      {"image_aspect_ratio", "pad"}, {"lazy_preprocess", true}, {"group_by_modality_length", true}, {"train_sampler", "sequential"},
      {"dataloader_num_workers", 3}, {"model_max_length", 3072}, {"max_bad_fraction", 0.25}, {"output_dir", "o"},
      {"num_train_epochs", 2.5}, {"max_steps", 100}, {"per_device_train_batch_size", 4},
      {"gradient_accumulation_steps", 4}, {"learning_rate", 2e-4}, {"weight_decay", 0.1}, {"adam_beta1", 0.8},
      {"adam_beta2", 0.95}, {"adam_epsilon", 1e-6}, {"optim", "adamw_torch"}, {"lr_scheduler_type", "cosine"},
      {"warmup_ratio", 0.03}, {"warmup_steps", 7}, {"max_grad_norm", 0.5}, {"mm_projector_lr", 2e-5}, {"mm_vision_tower_lr", 2e-6},
      {"seed", 1},
      {"data_seed", 5}, {"gradient_checkpointing", "selective"}, {"memory_budget_gb", 12.5}, {"packing", true},
      {"bf16", true}, {"fp16", true}, {"tf32", true},
      {"half_base", false}, {"logits_chunk_size", 64},
      {"lora_enable", true}, {"lora_r", 256}, {"lora_alpha", 256.0}, {"lora_dropout", 0.1}, {"lora_bias", "none"},
      {"lora_weight_path", "adapter"}, {"bits", 8}, {"fp16_init_scale", 1024.0}, {"fp16_growth_interval", 1000},
      {"fp16_hysteresis", 2}, {"max_skipped_steps", 5}, {"logging_steps", 0.5}, {"save_strategy", "epoch"},
      {"save_steps", 24000}, {"save_total_limit", 1}, {"resume_from_checkpoint", "ckpt/checkpoint-5"},
      {"report_to", {"tensorboard"}}, {"logging_dir", "logs"}, {"run_name", "r"}, {"disable_tqdm", true},
      {"eval_strategy", "no"}, {"per_device_eval_batch_size", 4}, {"remove_unused_columns", true},
      {"device", "cuda:1"}, {"num_threads", 4}, {"ddp_timeout", 60}, {"allow_world_size_change", true},
      {"local_rank", 2}, {"deepspeed", "zero3.json"}, {"zero_stage", 1}, {"ddp_bucket_cap_mb", 50.0},
  };
}

TEST(TrainArgsConfig, ToJsonFromJsonRoundTripCoversEveryField) {
  const json defaults = TrainArgs{}.to_json();
  const json changed = every_field_changed();
  ASSERT_EQ(changed.size(), defaults.size()) << "a field was added: extend every_field_changed()";
  // Fields whose only allowed value is the default cannot differ.
  const std::vector<std::string> single_valued = {"mm_vision_select_feature", "optim", "lora_bias", "eval_strategy"};
  for (const auto& [key, value] : changed.items()) {
    ASSERT_TRUE(defaults.contains(key)) << key;
    if (std::find(single_valued.begin(), single_valued.end(), key) == single_valued.end()) {
      EXPECT_NE(value, defaults[key]) << key;
    }
  }
  EXPECT_EQ(TrainArgs::from_json(changed, "t.json").to_json(), changed);
  EXPECT_EQ(TrainArgs::from_json(defaults, "t.json").to_json(), defaults);
  EXPECT_TRUE(defaults["mm_projector_lr"].is_null());
  EXPECT_TRUE(defaults["report_to"].is_array());
}

TEST(TrainArgsConfig, ParsedArgsRoundTripThroughJson) {
  auto p = parse_with(Stage::finetune_lora, {"--lora_r", "256", "--mm_projector_lr", "2e-5", "--report_to",
                                             "tensorboard", "--dist_timeout", "5m", "--optim", "adamw_hf"});
  json j = p.args.to_json();
  EXPECT_EQ(j["ddp_timeout"], 300);
  EXPECT_EQ(j["optim"], "adamw_torch");
  TrainArgs back = TrainArgs::from_json(j, "imp_config.json");
  EXPECT_EQ(back.to_json(), j);
  EXPECT_NO_THROW(validate(back, Stage::finetune_lora));
  // The printed config is itself a valid --config file.
  std::string path = write_temp("printed.json", j.dump(2));
  auto again = parse_train_args(Stage::finetune_lora, {"--config", path});
  EXPECT_EQ(again.args.to_json(), j);
  EXPECT_TRUE(again.notices.empty()) << again.notices.front();
}

TEST(TrainArgsConfig, FromJsonIsStrict) {
  EXPECT_TRUE(throws_error([] { TrainArgs::from_json(json{{"lora_rr", 8}}, "ckpt/imp_config.json"); },
                           ErrorKind::input, {"ckpt/imp_config.json", "unknown key 'lora_rr'", "did you mean 'lora_r'?"}));
  EXPECT_TRUE(throws_error([] { TrainArgs::from_json(json{{"lora_r", "8"}}, "ckpt/imp_config.json"); },
                           ErrorKind::input, {"ckpt/imp_config.json", "key 'lora_r'", "integer"}));
  EXPECT_TRUE(throws_error([] { TrainArgs::from_json(json::array(), "x.json"); }, ErrorKind::input,
                           {"x.json", "JSON object"}));
  // Either spelling and aliases are accepted.
  TrainArgs a = TrainArgs::from_json(json{{"per-device-train-batch-size", 2}, {"evaluation_strategy", "no"}}, "x");
  EXPECT_EQ(a.per_device_train_batch_size, 2);
}

}  // namespace
}  // namespace imp::train::test
