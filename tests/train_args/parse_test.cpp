// argv parsing: spellings, HF booleans, values, unknown flags, special values, notices, stage defaults.
#include "helpers.h"

namespace imp::train::test {
namespace {

TEST(TrainArgsParse, StageDefaults) {
  auto pre = parse_with(Stage::pretrain, {}).args;
  EXPECT_TRUE(pre.tune_mm_mlp_adapter);
  EXPECT_FALSE(pre.lora_enable);
  auto lora = parse_with(Stage::finetune_lora, {}).args;
  EXPECT_TRUE(lora.lora_enable);
  EXPECT_FALSE(lora.tune_mm_mlp_adapter);
  auto full = parse_with(Stage::finetune, {}).args;
  EXPECT_FALSE(full.lora_enable);
  EXPECT_FALSE(full.tune_mm_mlp_adapter);
  // A few of the documented defaults (the ones that differ from Python are in docs/training-flags.md).
  EXPECT_EQ(full.version, "phi2");
  EXPECT_EQ(full.mm_projector_type, "mlp2x_gelu");
  EXPECT_EQ(full.mm_vision_select_layer, -2);
  EXPECT_EQ(full.model_max_length, 512);
  EXPECT_EQ(full.gradient_checkpointing, "full");
  EXPECT_EQ(full.resume_from_checkpoint, "auto");
  EXPECT_FALSE(full.mm_projector_lr.has_value());
  EXPECT_FALSE(full.save_total_limit.has_value());
  EXPECT_TRUE(full.report_to.empty());
  EXPECT_EQ(full.model_name_or_path, "models/phi-2");
  EXPECT_EQ(full.data_path, "data.json");
  EXPECT_EQ(full.output_dir, "out");
  EXPECT_TRUE(parse_with(Stage::finetune, {}).notices.empty());
  EXPECT_STREQ(stage_name(Stage::finetune_lora), "finetune-lora");
}

TEST(TrainArgsParse, BothSpellingsAndEqualsForm) {
  auto a = parse_with(Stage::finetune, {"--per-device-train-batch-size", "4", "--gradient_accumulation_steps=3",
                                        "--learning-rate=2e-4", "--image-folder", "imgs", "--lora_r", "8"})
               .args;
  EXPECT_EQ(a.per_device_train_batch_size, 4);
  EXPECT_EQ(a.gradient_accumulation_steps, 3);
  EXPECT_DOUBLE_EQ(a.learning_rate, 2e-4);
  EXPECT_EQ(a.image_folder, "imgs");
  EXPECT_EQ(a.lora_r, 8);
  // Values that start with '-' are values, not flags.
  EXPECT_EQ(parse_with(Stage::finetune, {"--mm_vision_select_layer", "-1"}).args.mm_vision_select_layer, -1);
  EXPECT_EQ(parse_with(Stage::finetune, {"--mm-vision-select-layer=-3"}).args.mm_vision_select_layer, -3);
  // The last occurrence wins, as with argparse.
  EXPECT_EQ(parse_with(Stage::finetune, {"--seed", "1", "--seed", "7"}).args.seed, 7);
  EXPECT_EQ(parse_with(Stage::finetune, {"--run_name", "a=b"}).args.run_name, "a=b");
  EXPECT_EQ(parse_with(Stage::finetune, {"--run_name=a=b"}).args.run_name, "a=b");
}

TEST(TrainArgsParse, HfBooleans) {
  EXPECT_TRUE(parse_with(Stage::finetune, {"--group_by_modality_length"}).args.group_by_modality_length);
  // A bare flag followed by another flag: the other flag is not consumed.
  auto a = parse_with(Stage::finetune, {"--group_by_modality_length", "--seed", "3"}).args;
  EXPECT_TRUE(a.group_by_modality_length);
  EXPECT_EQ(a.seed, 3);
  for (const char* t : {"True", "true", "1", "yes"}) {
    EXPECT_TRUE(parse_with(Stage::finetune, {"--fp16", t}).args.fp16) << t;
    EXPECT_TRUE(parse_with(Stage::finetune, {std::string("--fp16=") + t}).args.fp16) << t;
  }
  for (const char* t : {"False", "false", "0", "no"}) {
    EXPECT_EQ(parse_with(Stage::finetune, {"--gradient_checkpointing", t}).args.gradient_checkpointing, "none") << t;
    EXPECT_EQ(parse_with(Stage::finetune, {std::string("--gradient-checkpointing=") + t}).args.gradient_checkpointing,
              "none")
        << t;
  }
  // HF's boolean forms and imp's modes; alone it means True (full), as HF's flag.
  EXPECT_EQ(parse_with(Stage::finetune, {"--gradient_checkpointing", "True"}).args.gradient_checkpointing, "full");
  EXPECT_EQ(parse_with(Stage::finetune, {"--gradient_checkpointing", "--bf16"}).args.gradient_checkpointing, "full");
  EXPECT_EQ(parse_with(Stage::finetune, {"--bf16", "--gradient_checkpointing"}).args.gradient_checkpointing, "full");
  for (const char* m : {"none", "full", "selective", "auto"})
    EXPECT_EQ(parse_with(Stage::finetune, {"--gradient_checkpointing", m}).args.gradient_checkpointing, m) << m;
  EXPECT_TRUE(usage_error(Stage::finetune, {"--gradient_checkpointing", "some"},
                          {"--gradient_checkpointing", "some", "selective"}));
  EXPECT_TRUE(parse_with(Stage::finetune, {"--packing"}).args.packing);
  EXPECT_EQ(parse_with(Stage::finetune, {"--no_gradient_checkpointing"}).args.gradient_checkpointing, "none");
  EXPECT_EQ(parse_with(Stage::finetune, {"--no-gradient-checkpointing"}).args.gradient_checkpointing, "none");
  EXPECT_TRUE(usage_error(Stage::finetune, {"--no_gradient_checkpointing=1"}, {"--no_gradient_checkpointing"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--fp16=maybe"}, {"--fp16", "boolean", "maybe"}));
  // A non-literal after a boolean flag is not consumed: it becomes a stray argument.
  EXPECT_TRUE(usage_error(Stage::finetune, {"--fp16", "maybe"}, {"unexpected argument 'maybe'", "after --fp16"}));
}

TEST(TrainArgsParse, MissingAndBadValues) {
  EXPECT_TRUE(usage_error(Stage::finetune, {"--learning_rate"}, {"--learning_rate needs a value"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--learning_rate", "--seed", "1"}, {"--learning_rate needs a value"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--learning_rate", "fast"}, {"--learning_rate", "number", "'fast'"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--learning_rate", "nan"}, {"--learning_rate", "number"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--seed", "1.5"}, {"--seed", "integer", "'1.5'"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--seed", "99999999999999999999"}, {"--seed", "integer"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--report_to"}, {"--report_to needs a value"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--config"}, {"--config needs a value"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"stray"}, {"unexpected argument 'stray'"}));
}

TEST(TrainArgsParse, UnknownFlagSuggestsClosest) {
  EXPECT_TRUE(usage_error(Stage::finetune, {"--learnig_rate", "1e-4"},
                          {"unknown flag --learnig_rate; did you mean --learning_rate?"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--per-device-train-bach-size=4"},
                          {"unknown flag --per-device-train-bach-size; did you mean --per_device_train_batch_size?"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--print_confg"}, {"did you mean --print_config?"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--evalution_strategy", "no"}, {"did you mean --evaluation_strategy?"}));
  // Nothing close: no suggestion.
  EXPECT_TRUE(usage_error(Stage::finetune, {"--frobnicate", "1"}, {"unknown flag --frobnicate"}));
  try {
    parse_with(Stage::finetune, {"--frobnicate", "1"});
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(usage_error(Stage::finetune, {"-x"}, {"unknown flag -x"}));
}

TEST(TrainArgsParse, HelpAndPrintConfig) {
  // --help needs nothing else and skips validation.
  for (const char* h : {"-h", "--help"}) {
    auto p = parse_train_args(Stage::pretrain, {"--learning_rate", "-5", h});
    EXPECT_TRUE(p.help) << h;
  }
  EXPECT_TRUE(parse_with(Stage::finetune, {"--print_config"}).print_config);
  EXPECT_TRUE(parse_with(Stage::finetune, {"--print-config"}).print_config);
  EXPECT_FALSE(parse_with(Stage::finetune, {"--print_config", "False"}).print_config);
  EXPECT_FALSE(parse_with(Stage::finetune, {}).print_config);
  // --print_config still validates: the printed config is one that would run.
  EXPECT_TRUE(throws_error([] { parse_train_args(Stage::finetune, {"--print_config"}); }, ErrorKind::usage,
                           {"--model_name_or_path is required"}));
}

TEST(TrainArgsParse, HelpTextListsEveryFlagWithStageDefaults) {
  std::string pre = train_args_help(Stage::pretrain);
  std::string lora = train_args_help(Stage::finetune_lora);
  const nlohmann::json fields = TrainArgs{}.to_json();
  for (const auto& [key, value] : fields.items())
    EXPECT_NE(pre.find("--" + key + " "), std::string::npos) << key;
  for (const char* s : {"--config FILE", "--print_config", "--help", "Model:", "LoRA:", "(alias --dist_timeout)",
                        "(alias --evaluation_strategy)", "(required)", "{linear,cosine,constant,constant_with_warmup}"})
    EXPECT_NE(lora.find(s), std::string::npos) << s;
  auto line_of = [](const std::string& text, const std::string& flag) {
    size_t at = text.find("--" + flag + " ");
    return text.substr(at, text.find('\n', at) - at);
  };
  EXPECT_NE(line_of(pre, "tune_mm_mlp_adapter").find("[default: True]"), std::string::npos);
  EXPECT_NE(line_of(lora, "tune_mm_mlp_adapter").find("[default: False]"), std::string::npos);
  EXPECT_NE(line_of(lora, "lora_enable").find("[default: True]"), std::string::npos);
  EXPECT_NE(line_of(pre, "lora_enable").find("[default: False]"), std::string::npos);
  EXPECT_NE(line_of(pre, "mm_projector_lr").find("[default: unset]"), std::string::npos);
}

TEST(TrainArgsParse, ReportTo) {
  EXPECT_TRUE(parse_with(Stage::finetune, {"--report_to", "none"}).args.report_to.empty());
  EXPECT_EQ(parse_with(Stage::finetune, {"--report_to", "tensorboard"}).args.report_to,
            std::vector<std::string>{"tensorboard"});
  auto p = parse_with(Stage::finetune, {"--report_to", "wandb", "tensorboard", "--seed", "5"});
  EXPECT_EQ(p.args.report_to, std::vector<std::string>{"tensorboard"});
  EXPECT_EQ(p.args.seed, 5);
  EXPECT_TRUE(has_notice(p, "--report_to wandb: not available in imp, ignored"));
  auto all = parse_with(Stage::finetune, {"--report_to=all"});
  EXPECT_EQ(all.args.report_to, std::vector<std::string>{"tensorboard"});
  EXPECT_TRUE(has_notice(all, "--report_to all"));
  EXPECT_EQ(parse_with(Stage::finetune, {"--report_to", "mlflow,tensorboard"}).args.report_to,
            std::vector<std::string>{"tensorboard"});
  EXPECT_TRUE(usage_error(Stage::finetune, {"--report_to", "tensorbord"}, {"--report_to", "'tensorbord'"}));
}

TEST(TrainArgsParse, ResumeFromCheckpoint) {
  EXPECT_EQ(parse_with(Stage::finetune, {"--resume_from_checkpoint", "True"}).args.resume_from_checkpoint, "auto");
  EXPECT_EQ(parse_with(Stage::finetune, {"--resume_from_checkpoint", "true"}).args.resume_from_checkpoint, "auto");
  EXPECT_EQ(parse_with(Stage::finetune, {"--resume_from_checkpoint", "auto"}).args.resume_from_checkpoint, "auto");
  EXPECT_EQ(parse_with(Stage::finetune, {"--resume_from_checkpoint", "False"}).args.resume_from_checkpoint, "");
  EXPECT_EQ(parse_with(Stage::finetune, {"--resume_from_checkpoint="}).args.resume_from_checkpoint, "");
  EXPECT_EQ(parse_with(Stage::finetune, {"--resume_from_checkpoint", "out/checkpoint-100"}).args.resume_from_checkpoint,
            "out/checkpoint-100");
}

TEST(TrainArgsParse, AliasesAndDurations) {
  auto hf = parse_with(Stage::finetune, {"--optim", "adamw_hf"});
  EXPECT_EQ(hf.args.optim, "adamw_torch");
  EXPECT_TRUE(has_notice(hf, "adamw_hf"));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--optim", "sgd"}, {"--optim", "'sgd'", "AdamW only"}));
  EXPECT_EQ(parse_with(Stage::finetune, {"--ddp_timeout", "60"}).args.ddp_timeout, 60);
  EXPECT_EQ(parse_with(Stage::finetune, {"--dist_timeout", "5m"}).args.ddp_timeout, 300);
  EXPECT_EQ(parse_with(Stage::finetune, {"--dist-timeout=20s"}).args.ddp_timeout, 20);
  EXPECT_EQ(parse_with(Stage::finetune, {"--ddp_timeout", "1h"}).args.ddp_timeout, 3600);
  EXPECT_TRUE(usage_error(Stage::finetune, {"--dist_timeout", "soon"}, {"--dist_timeout", "'soon'", "5m"}));
  EXPECT_EQ(parse_with(Stage::finetune, {"--evaluation_strategy", "no"}).args.eval_strategy, "no");
  EXPECT_TRUE(usage_error(Stage::finetune, {"--eval_strategy", "steps"}, {"--eval_strategy", "'steps'", "imp eval"}));
  EXPECT_TRUE(usage_error(Stage::finetune, {"--evaluation-strategy", "epoch"}, {"--evaluation_strategy", "'epoch'"}));
}

TEST(TrainArgsParse, OptionalValues) {
  auto a = parse_with(Stage::finetune, {"--mm_projector_lr", "2e-5", "--data_seed", "9", "--save_total_limit", "2"}).args;
  ASSERT_TRUE(a.mm_projector_lr.has_value());
  EXPECT_DOUBLE_EQ(*a.mm_projector_lr, 2e-5);
  EXPECT_EQ(a.data_seed, std::optional<int64_t>(9));
  EXPECT_EQ(a.save_total_limit, std::optional<int64_t>(2));
  auto b = parse_with(Stage::finetune, {"--mm_projector_lr", "2e-5", "--mm_projector_lr", "None",
                                        "--save_total_limit=none"})
               .args;
  EXPECT_FALSE(b.mm_projector_lr.has_value());
  EXPECT_FALSE(b.save_total_limit.has_value());
}

// --zero_stage: unset takes the DeepSpeed JSON's zero_optimization.stage (2 and 3 run as 1, with a notice);
// a flag wins; stages other than 0 and 1 are refused; a bad stage in the JSON names the file.
TEST(TrainArgsParse, ZeroStageFromFlagOrDeepSpeedJson) {
  EXPECT_EQ(parse_with(Stage::finetune, {}).args.resolved_zero_stage(), 0);
  const std::string z3 = write_temp("zero3.json", R"({"zero_optimization": {"stage": 3, "overlap_comm": true}})");
  auto p = parse_with(Stage::finetune, {"--deepspeed", z3});
  EXPECT_EQ(p.args.zero_stage, std::optional<int64_t>(1));
  EXPECT_TRUE(has_notice(p, "zero_optimization.stage 3 runs as ZeRO stage 1"));
  EXPECT_EQ(parse_with(Stage::finetune, {"--deepspeed", z3, "--zero_stage", "0"}).args.zero_stage,
            std::optional<int64_t>(0));
  const std::string z0 = write_temp("zero0.json", R"({"zero_optimization": {"stage": 0}})");
  EXPECT_EQ(parse_with(Stage::finetune, {"--deepspeed", z0}).args.zero_stage, std::optional<int64_t>(0));
  EXPECT_TRUE(throws_error([] { parse_with(Stage::finetune, {"--zero_stage", "2"}); }, ErrorKind::usage,
                           {"--zero_stage", "0 or 1", "not implemented"}));
  const std::string bad = write_temp("zero_bad.json", R"({"zero_optimization": {"stage": "two"}})");
  EXPECT_TRUE(throws_error([&] { parse_with(Stage::finetune, {"--deepspeed", bad}); }, ErrorKind::input,
                           {bad, "zero_optimization.stage"}));
}

TEST(TrainArgsParse, NoticesForAcceptedButIgnoredFlags) {
  auto p = parse_with(Stage::finetune,
                      {"--deepspeed", "./scripts/zero3.json", "--lazy_preprocess", "True", "--tf32", "True",
                       "--local_rank=0", "--freeze_backbone", "--per_device_eval_batch_size", "4",
                       "--remove_unused_columns", "True"});
  EXPECT_TRUE(has_notice(p, "--deepspeed ./scripts/zero3.json: imp uses its own data-parallel engine; only "
                            "zero_optimization.stage is read"));
  EXPECT_TRUE(has_notice(p, "--lazy_preprocess"));
  EXPECT_TRUE(has_notice(p, "--tf32"));
  EXPECT_TRUE(has_notice(p, "--local_rank"));
  EXPECT_TRUE(has_notice(p, "--freeze_backbone"));
  EXPECT_TRUE(has_notice(p, "--per_device_eval_batch_size"));
  EXPECT_TRUE(has_notice(p, "--remove_unused_columns"));
  EXPECT_EQ(p.notices.size(), 7u);
  EXPECT_EQ(p.args.deepspeed, "./scripts/zero3.json");
  EXPECT_EQ(p.args.local_rank, 0);
  EXPECT_TRUE(p.args.tf32);
  // Values that ask for nothing ignored give no notice; repeated flags give one notice.
  auto q = parse_with(Stage::finetune, {"--tf32", "False", "--lazy_preprocess", "--lazy_preprocess", "--local_rank",
                                        "-1", "--freeze_backbone", "False", "--deepspeed="});
  EXPECT_EQ(q.notices, std::vector<std::string>{
                           "--lazy_preprocess is accepted for compatibility; imp always reads samples lazily"});
}

}  // namespace
}  // namespace imp::train::test
