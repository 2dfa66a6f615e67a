// Validation: required flags, ranges and allowed values (each error names its flag), stage conflicts.
#include "helpers.h"

namespace imp::train::test {
namespace {

TEST(TrainArgsValidate, RequiredFlags) {
  const std::vector<std::string> all = required_flags();
  for (size_t drop = 0; drop < all.size(); drop += 2) {
    std::vector<std::string> argv;
    for (size_t i = 0; i < all.size(); i += 2)
      if (i != drop) argv.insert(argv.end(), {all[i], all[i + 1]});
    EXPECT_TRUE(throws_error([&] { parse_train_args(Stage::finetune, argv); }, ErrorKind::usage,
                             {all[drop] + " is required"}));
  }
}

struct BadValue {
  std::vector<std::string> flags;
  std::string needle;  // the flag the message must start with
};

TEST(TrainArgsValidate, OutOfRangeValuesNameTheFlag) {
  const std::vector<BadValue> cases = {
      {{"--per_device_train_batch_size", "0"}, "--per_device_train_batch_size"},
      {{"--gradient_accumulation_steps", "0"}, "--gradient_accumulation_steps"},
      {{"--learning_rate", "-1e-4"}, "--learning_rate"},
      {{"--weight_decay", "-0.1"}, "--weight_decay"},
      {{"--adam_beta1", "1"}, "--adam_beta1"},
      {{"--adam_beta2", "-0.5"}, "--adam_beta2"},
      {{"--adam_epsilon", "-1e-8"}, "--adam_epsilon"},
      {{"--lora_r", "0"}, "--lora_r"},
      {{"--lora_alpha", "0"}, "--lora_alpha"},
      {{"--lora_dropout", "1"}, "--lora_dropout"},
      {{"--lora_dropout", "-0.1"}, "--lora_dropout"},
      {{"--warmup_ratio", "1.5"}, "--warmup_ratio"},
      {{"--warmup_ratio", "-0.1"}, "--warmup_ratio"},
      {{"--warmup_steps", "-1"}, "--warmup_steps"},
      {{"--max_grad_norm", "-1"}, "--max_grad_norm"},
      {{"--mm_projector_lr", "-2e-5"}, "--mm_projector_lr"},
      {{"--num_train_epochs", "0"}, "--num_train_epochs"},
      {{"--max_steps", "0"}, "--max_steps"},
      {{"--max_steps", "-2"}, "--max_steps"},
      {{"--model_max_length", "0"}, "--model_max_length"},
      {{"--dataloader_num_workers", "-1"}, "--dataloader_num_workers"},
      {{"--max_bad_fraction", "1.01"}, "--max_bad_fraction"},
      {{"--seed", "-1"}, "--seed"},
      {{"--data_seed", "-3"}, "--data_seed"},
      {{"--fp16_init_scale", "0"}, "--fp16_init_scale"},
      {{"--fp16_growth_interval", "0"}, "--fp16_growth_interval"},
      {{"--fp16_hysteresis", "0"}, "--fp16_hysteresis"},
      {{"--max_skipped_steps", "-1"}, "--max_skipped_steps"},
      {{"--logging_steps", "0"}, "--logging_steps"},
      {{"--save_steps", "0"}, "--save_steps"},
      {{"--save_total_limit", "0"}, "--save_total_limit"},
      {{"--per_device_eval_batch_size", "0"}, "--per_device_eval_batch_size"},
      {{"--num_threads", "-1"}, "--num_threads"},
      {{"--ddp_timeout", "0"}, "--ddp_timeout"},
      {{"--local_rank", "-2"}, "--local_rank"},
      {{"--bits", "4"}, "--bits"},
      {{"--lora_bias", "all"}, "--lora_bias"},
      {{"--version", "v1"}, "--version"},
      {{"--image_aspect_ratio", "anyres"}, "--image_aspect_ratio"},
      {{"--attn_implementation", "flash_attention_2"}, "--attn_implementation"},
      {{"--lr_scheduler_type", "polynomial"}, "--lr_scheduler_type"},
      {{"--save_strategy", "best"}, "--save_strategy"},
      {{"--mm_vision_select_feature", "cls_patch"}, "--mm_vision_select_feature"},
      {{"--mm_projector_type", "mlp0x_gelu"}, "--mm_projector_type"},
      {{"--mm_projector_type", "mlp9x_gelu"}, "--mm_projector_type"},
      {{"--mm_projector_type", "identity"}, "--mm_projector_type"},
      {{"--device", "gpu"}, "--device"},
      {{"--device", "cuda:x"}, "--device"},
      {{"--device", "cuda:"}, "--device"},
  };
  for (const auto& c : cases) {
    try {
      parse_with(Stage::finetune, c.flags);
      ADD_FAILURE() << c.flags[0] << " " << c.flags[1] << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(c.needle, 0), 0u) << e.what();
    }
  }
}

TEST(TrainArgsValidate, BoundaryValuesAreAccepted) {
  auto a = parse_with(Stage::finetune, {"--warmup_ratio", "1", "--warmup_ratio", "0", "--lora_dropout", "0",
                                        "--max_grad_norm", "0", "--max_steps", "10", "--num_train_epochs", "0",
                                        "--mm_projector_type", "mlp3x_gelu", "--device", "cuda:1",
                                        "--save_strategy", "no", "--save_steps", "0", "--max_skipped_steps", "0",
                                        "--logging_steps", "0.1", "--learning_rate", "0"})
               .args;
  EXPECT_EQ(a.max_steps, 10);
  EXPECT_EQ(a.device, "cuda:1");
  EXPECT_EQ(a.mm_projector_type, "mlp3x_gelu");
  EXPECT_DOUBLE_EQ(a.logging_steps, 0.1);
  for (const char* d : {"auto", "cpu", "cuda", "cuda:0"})
    EXPECT_EQ(parse_with(Stage::finetune, {"--device", d}).args.device, d);
  EXPECT_EQ(parse_with(Stage::finetune, {"--mm_projector_type", "linear"}).args.mm_projector_type, "linear");
}

TEST(TrainArgsValidate, PrecisionAndUnsupportedImpOptions) {
  EXPECT_TRUE(parse_with(Stage::finetune, {"--fp16", "True"}).args.fp16);
  EXPECT_TRUE(parse_with(Stage::finetune, {"--bf16", "True"}).args.bf16);
  EXPECT_TRUE(usage_error(Stage::finetune, {"--fp16", "--bf16"}, {"--fp16 and --bf16 are both True"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--mm_use_im_start_end", "True"},
                          {"--mm_use_im_start_end", "not supported by Imp checkpoints"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--mm_use_im_patch_token"},
                          {"--mm_use_im_patch_token", "not supported by Imp checkpoints"}));
}

TEST(TrainArgsValidate, StageConflicts) {
  EXPECT_TRUE(usage_error(Stage::pretrain, {"--lora_enable", "True"}, {"--lora_enable", "imp finetune-lora"}));
  EXPECT_TRUE(usage_error(Stage::pretrain, {"--tune_mm_mlp_adapter", "False"}, {"--tune_mm_mlp_adapter"}));
  EXPECT_TRUE(usage_error(Stage::pretrain, {"--freeze_mm_mlp_adapter"}, {"--freeze_mm_mlp_adapter"}));
  EXPECT_TRUE(usage_error(Stage::finetune_lora, {"--lora_enable", "False"}, {"--lora_enable", "imp finetune"}));
  EXPECT_TRUE(usage_error(Stage::finetune_lora, {"--tune_mm_mlp_adapter"}, {"--tune_mm_mlp_adapter", "imp pretrain"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--lora_enable"}, {"--lora_enable", "imp finetune-lora"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--tune_mm_mlp_adapter", "True"}, {"--tune_mm_mlp_adapter", "imp pretrain"}));
  EXPECT_TRUE(usage_error(Stage::pretrain, {"--unfreeze_mm_vision_tower", "True"},
                          {"--unfreeze_mm_vision_tower", "projector only"}));
  EXPECT_TRUE(usage_error(Stage::finetune_lora, {"--mm_vision_tower_lr", "1e-4"},
                          {"--mm_vision_tower_lr", "without --unfreeze_mm_vision_tower"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--unfreeze_mm_vision_tower", "--mm_vision_tower_lr", "-1"},
                          {"--mm_vision_tower_lr", ">= 0"}));
  EXPECT_TRUE(parse_with(Stage::finetune_lora, {"--unfreeze_mm_vision_tower", "--mm_vision_tower_lr", "2e-6"})
                  .args.unfreeze_mm_vision_tower);
  // Restating the stage's own setting is fine (Imp's scripts do).
  EXPECT_TRUE(parse_with(Stage::pretrain, {"--tune_mm_mlp_adapter", "True"}).args.tune_mm_mlp_adapter);
  EXPECT_TRUE(parse_with(Stage::finetune_lora, {"--lora_enable", "True"}).args.lora_enable);
  EXPECT_FALSE(parse_with(Stage::finetune, {"--lora_enable", "False"}).args.lora_enable);
}

TEST(TrainArgsValidate, ProgrammaticArgsAreCheckedToo) {
  TrainArgs a = stage_defaults(Stage::finetune);
  a.model_name_or_path = "m";
  a.data_path = "d";
  a.output_dir = "o";
  EXPECT_NO_THROW(validate(a, Stage::finetune));
  EXPECT_TRUE(throws_error([&] { validate(a, Stage::finetune_lora); }, ErrorKind::usage, {"--lora_enable"}));
  a.lr_scheduler_type = "poly";
  EXPECT_TRUE(throws_error([&] { validate(a, Stage::finetune); }, ErrorKind::usage,
                           {"--lr_scheduler_type: 'poly' is not allowed", "cosine"}));
}

}  // namespace
}  // namespace imp::train::test
