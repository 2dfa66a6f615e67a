// The flag sets of Imp's scripts/{pretrain,finetune_lora,finetune}.sh (MILVLG/imp HEAD 363a9bb), as the
// deepspeed launcher passes them (it appends --local_rank=N), with `deepspeed train_mem.py` replaced by
// `imp <stage>`: they must parse to the scripts' values, with notices for what imp ignores.
#include "helpers.h"

namespace imp::train::test {
namespace {

// Flags every script passes (shell quotes removed, as the shell does).
std::vector<std::string> common_flags() {
  return {"--mm_projector_type", "mlp2x_gelu", "--mm_vision_select_layer", "-2", "--mm_use_im_start_end", "False",
          "--mm_use_im_patch_token", "False", "--bf16", "False", "--fp16", "True", "--per_device_eval_batch_size",
          "4", "--evaluation_strategy", "no", "--save_strategy", "steps", "--save_total_limit", "1",
          "--weight_decay", "0.", "--warmup_ratio", "0.03", "--lr_scheduler_type", "cosine", "--logging_steps",
          "1", "--tf32", "False", "--model_max_length", "3072", "--gradient_checkpointing", "True",
          "--dataloader_num_workers", "4", "--lazy_preprocess", "True", "--report_to", "none", "--local_rank=0"};
}

std::vector<std::string> with_common(std::vector<std::string> flags) {
  auto c = common_flags();
  flags.insert(flags.end(), c.begin(), c.end());
  return flags;
}

void expect_common(const ParsedArgs& p) {
  const TrainArgs& a = p.args;
  EXPECT_EQ(a.mm_projector_type, "mlp2x_gelu");
  EXPECT_EQ(a.mm_vision_select_layer, -2);
  EXPECT_FALSE(a.mm_use_im_start_end);
  EXPECT_FALSE(a.mm_use_im_patch_token);
  EXPECT_FALSE(a.bf16);
  EXPECT_TRUE(a.fp16);
  EXPECT_EQ(a.per_device_eval_batch_size, 4);
  EXPECT_EQ(a.eval_strategy, "no");
  EXPECT_EQ(a.save_strategy, "steps");
  EXPECT_EQ(a.save_total_limit, std::optional<int64_t>(1));
  EXPECT_DOUBLE_EQ(a.weight_decay, 0.0);
  EXPECT_DOUBLE_EQ(a.warmup_ratio, 0.03);
  EXPECT_EQ(a.lr_scheduler_type, "cosine");
  EXPECT_DOUBLE_EQ(a.logging_steps, 1.0);
  EXPECT_FALSE(a.tf32);
  EXPECT_EQ(a.model_max_length, 3072);
  EXPECT_EQ(a.gradient_checkpointing, "full");
  EXPECT_EQ(a.dataloader_num_workers, 4);
  EXPECT_TRUE(a.lazy_preprocess);
  EXPECT_TRUE(a.report_to.empty());
  EXPECT_EQ(a.local_rank, 0);
  EXPECT_EQ(a.optim, "adamw_torch");
  EXPECT_EQ(a.image_aspect_ratio, "square");
  // Exactly the ignored settings get a notice: the DeepSpeed config (only its ZeRO stage is read), eval batch size, lazy_preprocess, --local_rank.
  ASSERT_EQ(p.notices.size(), 4u);
  EXPECT_TRUE(has_notice(p, "only zero_optimization.stage is read"));
  EXPECT_TRUE(has_notice(p, "--per_device_eval_batch_size"));
  EXPECT_TRUE(has_notice(p, "--lazy_preprocess"));
  EXPECT_TRUE(has_notice(p, "--local_rank"));
}

TEST(TrainArgsScripts, FinetuneLoraSh) {
  auto p = parse_train_args(
      Stage::finetune_lora,
      with_common({"--lora_enable", "True", "--lora_r", "256", "--lora_alpha", "256", "--mm_projector_lr", "2e-5",
                   "--deepspeed", "./scripts/zero3.json", "--model_name_or_path", "checkpoints/base/phi-2",
                   "--version", "phi2", "--data_path", "datasets/llava_v1_5_mix665k.json", "--image_folder",
                   "datasets/finetune_images", "--vision_tower", "checkpoints/base/siglip-so400m-patch14-384",
                   "--pretrain_mm_mlp_adapter", "./checkpoints/imp-v1-3b-stage1/mm_projector.bin",
                   "--image_aspect_ratio", "square", "--group_by_modality_length", "True", "--output_dir",
                   "./checkpoints/imp-v1-3b-stage2-lora", "--num_train_epochs", "2", "--per_device_train_batch_size",
                   "4", "--gradient_accumulation_steps", "4", "--save_steps", "50000", "--learning_rate", "2e-4"}));
  expect_common(p);
  const TrainArgs& a = p.args;
  EXPECT_TRUE(a.lora_enable);
  EXPECT_FALSE(a.tune_mm_mlp_adapter);
  EXPECT_EQ(a.lora_r, 256);
  EXPECT_DOUBLE_EQ(a.lora_alpha, 256.0);
  EXPECT_DOUBLE_EQ(a.lora_dropout, 0.05);
  EXPECT_EQ(a.lora_bias, "none");
  EXPECT_EQ(a.mm_projector_lr, std::optional<double>(2e-5));
  EXPECT_EQ(a.deepspeed, "./scripts/zero3.json");
  EXPECT_EQ(a.model_name_or_path, "checkpoints/base/phi-2");
  EXPECT_EQ(a.version, "phi2");
  EXPECT_EQ(a.data_path, "datasets/llava_v1_5_mix665k.json");
  EXPECT_EQ(a.image_folder, "datasets/finetune_images");
  EXPECT_EQ(a.vision_tower, "checkpoints/base/siglip-so400m-patch14-384");
  EXPECT_EQ(a.pretrain_mm_mlp_adapter, "./checkpoints/imp-v1-3b-stage1/mm_projector.bin");
  EXPECT_TRUE(a.group_by_modality_length);
  EXPECT_EQ(a.output_dir, "./checkpoints/imp-v1-3b-stage2-lora");
  EXPECT_DOUBLE_EQ(a.num_train_epochs, 2.0);
  EXPECT_EQ(a.max_steps, -1);
  EXPECT_EQ(a.per_device_train_batch_size, 4);
  EXPECT_EQ(a.gradient_accumulation_steps, 4);
  EXPECT_EQ(a.save_steps, 50000);
  EXPECT_DOUBLE_EQ(a.learning_rate, 2e-4);
  EXPECT_EQ(a.seed, 42);
}

TEST(TrainArgsScripts, PretrainSh) {
  auto p = parse_train_args(
      Stage::pretrain,
      with_common({"--deepspeed", "./scripts/zero2.json", "--model_name_or_path", "checkpoints/base/phi-2",
                   "--version", "plain", "--data_path", "datasets/blip_laion_cc_sbu_558k.json", "--image_folder",
                   "datasets/pretrain_images/", "--vision_tower", "checkpoints/base/siglip-so400m-patch14-384",
                   "--tune_mm_mlp_adapter", "True", "--output_dir", "./checkpoints/imp-v1-3b-stage1",
                   "--num_train_epochs", "1", "--per_device_train_batch_size", "32", "--gradient_accumulation_steps",
                   "1", "--save_steps", "24000", "--learning_rate", "1e-3"}));
  expect_common(p);
  EXPECT_TRUE(p.args.tune_mm_mlp_adapter);
  EXPECT_FALSE(p.args.lora_enable);
  EXPECT_EQ(p.args.version, "plain");
  EXPECT_EQ(p.args.per_device_train_batch_size, 32);
  EXPECT_EQ(p.args.save_steps, 24000);
  EXPECT_DOUBLE_EQ(p.args.learning_rate, 1e-3);
  EXPECT_FALSE(p.args.group_by_modality_length);
  EXPECT_TRUE(p.args.pretrain_mm_mlp_adapter.empty());
}

TEST(TrainArgsScripts, FinetuneSh) {
  auto p = parse_train_args(
      Stage::finetune,
      with_common({"--deepspeed", "./scripts/zero3.json", "--model_name_or_path", "checkpoints/base/phi-2",
                   "--version", "phi2", "--data_path", "datasets/llava_v1_5_mix665k.json", "--image_folder",
                   "datasets/finetune_images", "--vision_tower", "checkpoints/base/siglip-so400m-patch14-384",
                   "--pretrain_mm_mlp_adapter", "./checkpoints/imp-v1-3b-stage1/mm_projector.bin",
                   "--image_aspect_ratio", "square", "--group_by_modality_length", "True", "--output_dir",
                   "./checkpoints/imp-v1-3b-fft", "--num_train_epochs", "2", "--per_device_train_batch_size", "4",
                   "--gradient_accumulation_steps", "4", "--save_steps", "50000", "--learning_rate", "2e-5"}));
  expect_common(p);
  EXPECT_FALSE(p.args.lora_enable);
  EXPECT_FALSE(p.args.tune_mm_mlp_adapter);
  EXPECT_DOUBLE_EQ(p.args.learning_rate, 2e-5);
  EXPECT_EQ(p.args.output_dir, "./checkpoints/imp-v1-3b-fft");
}

}  // namespace
}  // namespace imp::train::test
