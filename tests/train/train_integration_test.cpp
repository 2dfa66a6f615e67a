// imp pretrain / finetune-lora / merge end to end on the tiny training fixture (tests/data/train,
// models/train_phi2, made by scripts/make_train_fixtures.py): the Python reference loss curves, exact
// resume (CKPT-1..3, CKPT-8, FT-1), determinism (DET-1/2), non-finite steps (NUM-1, NUM-4), data
// parallelism over 2 Gloo ranks, interoperable outputs and merge, and error exits.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "imp/core/compat.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/core/sha256.h"
#include "imp/io/state_dict.h"
#include "imp/train/tensorboard.h"
#include "test_utils.h"
#include "train/train_test_utils.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

std::string file_hash(const std::string& path) { return sha256_file(path); }

class Train : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (fs::temp_directory_path() / ("imp_train_" + std::string(info->name()) + "_" + std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string out(const std::string& name) const { return dir_ + "/" + name; }
  // `imp forward` of the merged directory equals `imp forward --lora` of the adapter on its base (one image).
  void expect_merge_matches_adapter(const std::string& merged, const std::string& base, const std::string& adapter,
                                    const std::string& label) {
    StateDict in;
    in["input_ids"] = torch::tensor({{5, 17, -200, 40, 99, 3}}, torch::kInt64);
    in["pixel_values"] = torch::rand({1, 3, 32, 32});
    save_safetensors(dir_ + "/in.safetensors", in);
    auto r = run_imp("forward --model " + merged + " --inputs " + dir_ + "/in.safetensors --output " + dir_ +
                     "/merged.safetensors");
    ASSERT_EQ(r.code, 0) << r.output;
    r = run_imp("forward --model " + base + " --lora " + adapter + " --inputs " + dir_ + "/in.safetensors --output " +
                dir_ + "/adapter.safetensors");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(check_close(load_safetensors(dir_ + "/merged.safetensors").at("logits"),
                            load_safetensors(dir_ + "/adapter.safetensors").at("logits"), 1e-5, label));
  }
  std::string dir_;
};

// Loss and grad-norm curves of a committed HF + PEFT reference loop, step by step.
void expect_curve(const std::string& golden_name, const std::vector<Json>& got) {
  const Json g = read_json_file(data_path("golden/" + golden_name + ".json"));
  const auto& steps = g.at("steps");
  ASSERT_EQ(got.size(), steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const double loss = steps[i].at("loss").get<double>(), norm = steps[i].at("grad_norm").get<double>();
    const double lr = steps[i].at("learning_rate").get<double>();
    EXPECT_EQ(got[i].at("step").get<int64_t>(), steps[i].at("step").get<int64_t>());
    EXPECT_NEAR(got[i].at("loss").get<double>(), loss, 1e-5 * std::abs(loss)) << "step " << i + 1;
    EXPECT_NEAR(got[i].at("grad_norm").get<double>(), norm, 1e-4 * std::abs(norm) + 1e-7) << "step " << i + 1;
    EXPECT_NEAR(got[i].at("learning_rate").get<double>(), lr, 1e-12) << "step " << i + 1;
  }
}

// Final trainable tensors against the reference (names: PEFT's for LoRA, model.mm_projector.* else).
void expect_tensors(const StateDict& got, const std::string& golden_name, double tol) {
  const StateDict want = golden(golden_name);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(got.count(name)) << "missing " << name;
    EXPECT_TRUE(check_close(got.at(name), t, tol, name));
  }
}

TEST_F(Train, LoraMatchesPythonReference) {
  const auto o = out("lora");
  auto r = run_imp(lora_flags(o, 20));
  ASSERT_EQ(r.code, 0) << r.output;
  expect_curve("train_lora_phi2", metrics(o));
  StateDict got = load_safetensors(o + "/adapter_model.safetensors");
  for (auto& [k, t] : rename_prefix(load_safetensors(o + "/non_lora_trainables.safetensors"), "base_model.model.", ""))
    got.emplace(k, t);
  expect_tensors(got, "train_lora_phi2_final", 1e-4);
  // PEFT layout (scripts/check_train_outputs.py checks the same files with PEFT itself).
  const Json cfg = read_json_file(o + "/adapter_config.json");
  EXPECT_EQ(cfg.at("peft_type"), "LORA");
  EXPECT_EQ(cfg.at("r"), 4);
  EXPECT_EQ(cfg.at("target_modules"), Json({"dense", "fc1", "fc2", "k_proj", "lm_head", "q_proj", "v_proj"}));
  const Json config = read_json_file(o + "/config.json");
  EXPECT_EQ(config.at("mm_projector_lr"), 5e-4);
  EXPECT_EQ(config.at("tokenizer_model_max_length"), 128);
  const Json state = read_json_file(o + "/trainer_state.json");
  EXPECT_EQ(state.at("global_step"), 20);
  EXPECT_EQ(state.at("log_history").size(), 21u);  // 20 steps + the summary, HF's keys
  EXPECT_TRUE(state.at("log_history")[0].contains("grad_norm"));
}

TEST_F(Train, PretrainMatchesPythonReference) {
  const auto o = out("stage1");
  auto r = run_imp(pretrain_flags(o, 10));
  ASSERT_EQ(r.code, 0) << r.output;
  expect_curve("train_pretrain_phi2", metrics(o));
  expect_tensors(load_safetensors(o + "/mm_projector.safetensors"), "train_pretrain_phi2_final", 1e-4);
  // The torch.save twin for Python Imp reads back as the same tensors, and holds only what
  // torch.load(weights_only=True) accepts (no torch.jit type tags; data.pkl is stored uncompressed).
  const std::string bin_bytes = read_text_file(o + "/mm_projector.bin");
  EXPECT_EQ(bin_bytes.find("restore_type_tag"), std::string::npos);
  EXPECT_NE(bin_bytes.find("_rebuild_tensor_v2"), std::string::npos);
  const StateDict bin = load_torch_pickle(o + "/mm_projector.bin");
  for (const auto& [name, t] : load_safetensors(o + "/mm_projector.safetensors")) {
    ASSERT_TRUE(bin.count(name)) << name;
    EXPECT_TRUE(torch::equal(bin.at(name), t)) << name;
  }
  EXPECT_TRUE(fs::exists(o + "/config.json"));
}

// A stage-1 mm_projector.bin written by Python's torch.save (tests/data/pickle/stage1) initialises the
// projector exactly as the same tensors in safetensors do, and differently from no projector file.
TEST_F(Train, TorchSaveStage1ProjectorLoads) {
  auto first_loss = [&](const std::string& name, const std::string& projector) {
    const auto o = out(name);
    auto r = run_imp(lora_flags(o, 1) + (projector.empty() ? "" : " --pretrain_mm_mlp_adapter " + projector));
    EXPECT_EQ(r.code, 0) << r.output;
    const auto m = metrics(o);
    return m.empty() ? -1.0 : m[0].at("loss").get<double>();
  };
  const double from_bin = first_loss("bin", data_path("pickle/stage1/mm_projector.bin"));
  const double from_st = first_loss("st", data_path("golden/train_pretrain_phi2_final.safetensors"));
  const double none = first_loss("none", "");
  EXPECT_EQ(from_bin, from_st);
  EXPECT_NE(from_bin, none);
}

// Interrupt after 4 of 8 steps (signal -> checkpoint -> exit 75), resume, finish: the same losses,
// grad norms and final bytes as a straight run (dropout on, so RNG restore is exercised).
TEST_F(Train, ResumeIsBitIdentical) {
  const std::string extra = " --lora_dropout 0.2 --save_steps 100";
  const auto a = out("straight"), b = out("resumed");
  auto r = run_imp(lora_flags(a, 8, false) + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 8, false) + extra, "IMP_FAULT=signal_at:4");
  ASSERT_EQ(r.code, 75) << r.output;
  ASSERT_TRUE(fs::exists(b + "/checkpoint-4/COMMITTED")) << r.output;
  EXPECT_FALSE(fs::exists(b + "/adapter_model.safetensors"));
  r = run_imp(lora_flags(b, 8, false) + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 8u);
  ASSERT_EQ(mb.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(ma[i].at("loss").get<double>(), mb[i].at("loss").get<double>()) << "step " << i + 1;
    EXPECT_EQ(ma[i].at("grad_norm").get<double>(), mb[i].at("grad_norm").get<double>()) << "step " << i + 1;
  }
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(b + "/adapter_model.safetensors"));
  EXPECT_EQ(file_hash(a + "/non_lora_trainables.safetensors"), file_hash(b + "/non_lora_trainables.safetensors"));
}

TEST_F(Train, CheckpointHoldsTheWholeState) {  // CKPT-3, CKPT-4
  const auto o = out("ckpt");
  auto r = run_imp(lora_flags(o, 4) + " --save_steps 1 --save_total_limit 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(o + "/checkpoint-1"));  // rotated out after checkpoint-3 committed
  EXPECT_FALSE(fs::exists(o + "/checkpoint-4"));  // the last step writes the final outputs instead
  const std::string c = o + "/checkpoint-3";
  ASSERT_TRUE(fs::exists(o + "/checkpoint-2/COMMITTED")) << r.output;
  ASSERT_TRUE(fs::exists(c + "/COMMITTED")) << r.output;
  const auto weights = load_safetensors(c + "/trainable.safetensors");
  const auto opt = load_safetensors(c + "/optimizer.safetensors");
  EXPECT_EQ(weights.size(), golden("train_lora_phi2_final").size());  // every LoRA A/B + the projector
  for (const auto& [name, t] : weights) {
    EXPECT_TRUE(opt.count("exp_avg/" + name)) << name;
    EXPECT_TRUE(opt.count("exp_avg_sq/" + name)) << name;
    ASSERT_TRUE(opt.count("step/" + name)) << name;
    EXPECT_EQ(opt.at("step/" + name).item<int64_t>(), 3) << name;
  }
  EXPECT_EQ(opt.size(), 3 * weights.size());
  EXPECT_TRUE(load_safetensors(c + "/rng_state_0.safetensors").count("cpu"));
  const Json s = read_json_file(c + "/trainer_state.json");
  const Json& imp = s.at("imp");
  for (const char* k : {"version", "libtorch", "stage", "world_size", "num_threads", "progress", "loss_scaler",
                        "schedule", "args"})
    EXPECT_TRUE(imp.contains(k)) << k;
  for (const char* k : {"global_step", "sched_step", "micro_batches", "skipped_steps", "consumed_samples"})
    EXPECT_TRUE(imp.at("progress").contains(k)) << k;
  EXPECT_EQ(imp.at("progress").at("global_step"), 3);
  EXPECT_TRUE(fs::exists(c + "/manifest.json"));
  EXPECT_TRUE(fs::exists(c + "/config.json"));
}

// CKPT-1: killed while writing checkpoint-3's optimizer file: the next run ignores and removes the
// partial folder, resumes from checkpoint-2 and ends with the same weights as a straight run.
TEST_F(Train, CrashDuringSaveResumesFromLastCommit) {
  const auto a = out("straight"), b = out("crashed");
  auto r = run_imp(lora_flags(a, 5));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 5) + " --save_steps 1",
              "IMP_FAULT=ckpt_write:optimizer.safetensors:100 IMP_FAULT_STEP=3");
  ASSERT_EQ(r.code, 137) << r.output;
  EXPECT_TRUE(fs::exists(b + "/checkpoint-2/COMMITTED"));
  EXPECT_TRUE(fs::exists(b + "/.checkpoint-3.partial"));
  r = run_imp(lora_flags(b, 5) + " --save_steps 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("checkpoint-2"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(b + "/.checkpoint-3.partial"));
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(b + "/adapter_model.safetensors"));
}

TEST_F(Train, NonFiniteStepIsSkipped) {  // NUM-1
  for (const std::string kind : {"nan_grad", "inf_grad"}) {
    const auto o = out(kind);
    auto r = run_imp(lora_flags(o, 4) + " --save_steps 1", "IMP_FAULT=" + kind + ":3");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("step 3 skipped"), std::string::npos) << r.output;
    const auto m = metrics(o);
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[1].at("skipped_steps"), 0);
    EXPECT_EQ(m[2].at("skipped_steps"), 1);
    // Weights and AdamW moments untouched by the skipped step; its counter not advanced.
    EXPECT_EQ(file_hash(o + "/checkpoint-2/trainable.safetensors"), file_hash(o + "/checkpoint-3/trainable.safetensors"));
    EXPECT_EQ(file_hash(o + "/checkpoint-2/optimizer.safetensors"), file_hash(o + "/checkpoint-3/optimizer.safetensors"));
    const Json p = read_json_file(o + "/checkpoint-3/trainer_state.json").at("imp").at("progress");
    EXPECT_EQ(p.at("skipped_steps"), 1);
    EXPECT_EQ(p.at("sched_step"), 2);
  }
}

TEST_F(Train, DivergenceAborts) {  // NUM-4
  const auto o = out("diverge");
  auto r = run_imp(lora_flags(o, 10) + " --save_steps 1 --max_skipped_steps 3", "IMP_FAULT=nan_grad_from:3");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("diverged"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(o + "/checkpoint-2/COMMITTED"));
  EXPECT_FALSE(fs::exists(o + "/adapter_model.safetensors"));
}

TEST_F(Train, SeedsDecide) {  // DET-1, DET-2
  const std::string extra = " --lora_dropout 0.3 --train_sampler random";
  auto r1 = run_imp(lora_flags(out("a"), 3, false) + extra);
  auto r2 = run_imp(lora_flags(out("b"), 3, false) + extra);
  auto r3 = run_imp(lora_flags(out("c"), 3, false) + extra + " --seed 1");
  ASSERT_EQ(r1.code, 0) << r1.output;
  ASSERT_EQ(r2.code, 0) << r2.output;
  ASSERT_EQ(r3.code, 0) << r3.output;
  EXPECT_EQ(file_hash(out("a") + "/adapter_model.safetensors"), file_hash(out("b") + "/adapter_model.safetensors"));
  EXPECT_NE(metrics(out("a"))[0].at("loss"), metrics(out("c"))[0].at("loss"));
}

// imp merge == base + adapter (imp forward --lora), and the merged directory is a plain HF model.
TEST_F(Train, MergeEqualsAdapterForward) {
  const auto o = out("lora"), m = out("merged");
  auto r = run_imp(lora_flags(o, 3));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp("merge --model-path " + o + " --model-base " + model_dir("train_phi2") + " --save-model-path " + m);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(m + "/" + f)) << f;
  expect_merge_matches_adapter(m, model_dir("train_phi2"), o, "logits");
}

TEST_F(Train, BadInputGivesClearErrors) {
  auto r = run_imp(lora_flags(out("x"), 2) + " --learnig_rate 1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("learning_rate"), std::string::npos) << r.output;
  fs::create_directories(out("ro"));
  fs::permissions(out("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() != 0) {  // root writes anywhere
    r = run_imp(lora_flags(out("ro") + "/run", 2));
    EXPECT_EQ(r.code, 4) << r.output;
  }
  fs::permissions(out("ro"), fs::perms::owner_all);
  r = run_imp(lora_flags(out("y"), 2) + " --model_name_or_path /nonexistent");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("/nonexistent"), std::string::npos) << r.output;
}

std::string two_ranks(const std::string& flags) { return "launch --nproc_per_node 2 --master_port 0 -- " + flags; }

// 2 Gloo ranks x batch 1 == 1 rank x batch 2 (the same samples per step; fp32 reduction order aside).
TEST_F(Train, DataParallelMatchesOneRankWithTheSameGlobalBatch) {
  const auto one = out("one"), two = out("two");
  auto r = run_imp(lora_flags(one, 6));
  ASSERT_EQ(r.code, 0) << r.output;
  std::string flags = lora_flags(two, 6);
  flags.replace(flags.find("--per_device_train_batch_size 2"), 31, "--per_device_train_batch_size 1");
  r = run_imp(two_ranks(flags));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m1 = metrics(one), m2 = metrics(two);
  ASSERT_EQ(m1.size(), 6u);
  ASSERT_EQ(m2.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(m1[i].at("loss").get<double>(), m2[i].at("loss").get<double>(), 1e-5) << "step " << i + 1;
  const auto a = load_safetensors(one + "/adapter_model.safetensors"), b = load_safetensors(two + "/adapter_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(check_close(b.at(name), t, 1e-5, name));
}

// FT-1 + CKPT-2 on 2 ranks: SIGTERM to rank 1 only -> both ranks stop after the same step, one checkpoint
// is committed, exit 75; the resumed run ends bit-identical to a straight one. CKPT-8: resuming that
// checkpoint with 1 rank is refused.
TEST_F(Train, TwoRanksStopTogetherAndResumeExactly) {
  const std::string extra = " --lora_dropout 0.2 --per_device_train_batch_size 1";
  auto flags = [&](const std::string& o) {
    std::string f = lora_flags(o, 6, false) + extra;
    f.replace(f.find("--per_device_train_batch_size 2"), 31, "");
    return f;
  };
  const auto a = out("straight"), b = out("stopped");
  auto r = run_imp(two_ranks(flags(a)));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(two_ranks(flags(b)), "IMP_FAULT=signal_at:3:1");
  ASSERT_EQ(r.code, 75) << r.output;
  ASSERT_TRUE(fs::exists(b + "/checkpoint-3/COMMITTED")) << r.output;
  EXPECT_TRUE(fs::exists(b + "/checkpoint-3/rng_state_1.safetensors"));
  auto single = run_imp(flags(b));
  EXPECT_EQ(single.code, 2) << single.output;
  EXPECT_NE(single.output.find("allow_world_size_change"), std::string::npos) << single.output;
  r = run_imp(two_ranks(flags(b)));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(mb.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(ma[i].at("loss"), mb[i].at("loss")) << "step " << i + 1;
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(b + "/adapter_model.safetensors"));
}

// Gradient checkpointing (every layer, selective, auto) recomputes with the same dropout masks: same curve,
// same weights as keeping every activation.
TEST_F(Train, GradientCheckpointingChangesNothing) {
  const std::string extra = " --lora_dropout 0.2";
  const auto a = out("plain");
  auto r = run_imp(lora_flags(a, 3, false) + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ma = metrics(a);
  const auto wa = load_safetensors(a + "/adapter_model.safetensors");
  // auto with a budget below the process itself: every layer whole (and the choice is printed).
  for (const std::string mode : {"True", "selective", "auto --memory_budget_gb 0.01"}) {
    const auto b = out("ckpt_" + mode.substr(0, 4));
    std::string f = lora_flags(b, 3, false) + extra;
    f.replace(f.find("--gradient_checkpointing False"), 30, "--gradient_checkpointing " + mode);
    r = run_imp(f);
    ASSERT_EQ(r.code, 0) << r.output;
    if (mode.rfind("auto", 0) == 0)
      EXPECT_NE(r.output.find("gradient_checkpointing auto: 2 of 2 decoder layers recomputed whole"),
                std::string::npos) << r.output;
    const auto mb = metrics(b);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(ma[i].at("loss").get<double>(), mb[i].at("loss").get<double>(), 1e-6) << mode << " step " << i + 1;
    const auto wb = load_safetensors(b + "/adapter_model.safetensors");
    for (const auto& [name, t] : wa) EXPECT_TRUE(check_close(wb.at(name), t, 1e-5, mode + " " + name));
  }
}

// Packed micro-batches (one row, attention per sample) give the padded batches' losses and weights; the
// throughput line carries tokens/s, MFU and data-wait; and a packed, auto-recomputed run resumes exactly.
TEST_F(Train, PackingMatchesPaddingAndResumesExactly) {
  const std::string extra = " --lora_dropout 0 --gradient_checkpointing auto --memory_budget_gb 0.01";
  const auto a = out("padded"), b = out("packed"), c = out("packed_resumed");
  auto r = run_imp(lora_flags(a, 4, false) + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 4, false) + extra + " --packing");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* field : {" tok/s | ", " samples/s | MFU ", "% | data-wait ", "s | skipped "})
    EXPECT_NE(r.output.find(field), std::string::npos) << field << "\n" << r.output;
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(mb.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(ma[i].at("loss").get<double>(), mb[i].at("loss").get<double>(), 1e-5) << "step " << i + 1;
    EXPECT_GE(mb[i].at("data_wait_s").get<double>(), 0.0);
    EXPECT_GT(mb[i].at("mfu").get<double>(), 0.0);
  }
  const auto wa = load_safetensors(a + "/adapter_model.safetensors"), wb = load_safetensors(b + "/adapter_model.safetensors");
  for (const auto& [name, t] : wa) EXPECT_TRUE(check_close(wb.at(name), t, 1e-4, name));
  r = run_imp(lora_flags(c, 4, false) + extra + " --packing", "IMP_FAULT=signal_at:2");
  ASSERT_EQ(r.code, 75) << r.output;
  r = run_imp(lora_flags(c, 4, false) + extra + " --packing");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(file_hash(b + "/adapter_model.safetensors"), file_hash(c + "/adapter_model.safetensors"));
}

// bf16 autocast on the CPU trains, resumes bit-identically, and stays close to fp32.
TEST_F(Train, Bf16AutocastResumesExactly) {
  const std::string extra = " --bf16 --lora_dropout 0.2";
  const auto a = out("straight"), b = out("resumed");
  auto r = run_imp(lora_flags(a, 4, false) + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 4, false) + extra, "IMP_FAULT=signal_at:2");
  ASSERT_EQ(r.code, 75) << r.output;
  r = run_imp(lora_flags(b, 4, false) + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(b + "/adapter_model.safetensors"));
  const Json g = read_json_file(data_path("golden/train_lora_phi2.json"));
  EXPECT_NEAR(metrics(a)[0].at("loss").get<double>(), g.at("steps")[0].at("loss").get<double>(), 0.05);
}

// --logits_chunk_size: lm_head and the loss on labelled rows only, in chunks (5 rows: several chunks, each
// recomputed in backward) give the full-logits curve and weights up to rounding. (With LoRA dropout on
// lm_head the masks are drawn for the labelled rows only, so the two paths then differ by the draw.)
TEST_F(Train, LabelledChunkedLogitsEqualFullLogits) {
  const auto a = out("full"), b = out("chunked");
  auto r = run_imp(lora_flags(a, 3) + " --logits_chunk_size 0");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 3) + " --logits_chunk_size 5");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(mb.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const double la = ma[i].at("loss").get<double>(), ga = ma[i].at("grad_norm").get<double>();
    EXPECT_NEAR(mb[i].at("loss").get<double>(), la, 1e-6 * la) << "step " << i + 1;
    EXPECT_NEAR(mb[i].at("grad_norm").get<double>(), ga, 1e-5 * ga) << "step " << i + 1;
  }
  const auto wa = load_safetensors(a + "/adapter_model.safetensors"), wb = load_safetensors(b + "/adapter_model.safetensors");
  for (const auto& [name, t] : wa) EXPECT_TRUE(check_close(wb.at(name), t, 1e-5, name));
}

// --bf16 with --half_base (the default): the frozen base and tower train in bf16 beside fp32 LoRA and
// projector; the curve stays near the fp32-weights autocast path, the saved adapter is fp32 and merges exactly.
TEST_F(Train, HalfPrecisionBaseTrainsAndMergesExactly) {
  const auto a = out("half"), b = out("fp32_base"), m = out("merged");
  auto r = run_imp(lora_flags(a, 4, false) + " --bf16");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 4, false) + " --bf16 --half_base False");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 4u);
  bool differ = false;  // bf16 weights round at 2^-8 relative: the losses agree to ~1%, but not exactly
  for (size_t i = 0; i < 4; ++i) {
    const double la = ma[i].at("loss").get<double>(), lb = mb[i].at("loss").get<double>();
    EXPECT_NEAR(la, lb, 0.02 * lb) << "step " << i + 1;
    differ = differ || la != lb;
  }
  EXPECT_TRUE(differ) << "--half_base had no effect";
  const auto wa = load_safetensors(a + "/adapter_model.safetensors");
  for (const auto& [name, t] : wa) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
  for (const auto& [name, t] : load_safetensors(a + "/non_lora_trainables.safetensors"))
    EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
  r = run_imp("merge --model-path " + a + " --model-base " + model_dir("train_phi2") + " --save-model-path " + m);
  ASSERT_EQ(r.code, 0) << r.output;
  expect_merge_matches_adapter(m, model_dir("train_phi2"), a, "logits");
}

// --unfreeze_mm_vision_tower (LLaVA-NeXT): the tower trains at --mm_vision_tower_lr (0: it must not move),
// is saved with the projector in non_lora_trainables, and imp merge / imp forward --lora apply it.
TEST_F(Train, UnfrozenVisionTowerTrainsSavesAndMerges) {
  const std::string tower_prefix = "base_model.model.model.vision_tower.";
  auto tower_of = [&](const std::string& dir) {
    StateDict t;
    for (const auto& [k, v] : load_safetensors(dir + "/non_lora_trainables.safetensors"))
      if (k.rfind(tower_prefix, 0) == 0) t.emplace(k.substr(std::string("base_model.model.").size()), v);
    return t;
  };
  const auto moved = out("moved"), still = out("still"), m = out("merged");
  auto r = run_imp(lora_flags(moved, 3) + " --unfreeze_mm_vision_tower True --mm_vision_tower_lr 1e-3");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(still, 3) + " --unfreeze_mm_vision_tower True --mm_vision_tower_lr 0");
  ASSERT_EQ(r.code, 0) << r.output;
  const StateDict base = load_model_dir(model_dir("train_phi2"));
  const StateDict tm = tower_of(moved), ts = tower_of(still);
  ASSERT_FALSE(tm.empty()) << "no tower tensors in non_lora_trainables";
  EXPECT_EQ(tm.size(), ts.size());
  size_t changed = 0;
  for (const auto& [k, t] : ts) {
    ASSERT_TRUE(base.count(k)) << k << " is not a tensor of the base model";
    EXPECT_TRUE(torch::equal(t, base.at(k).to(t.scalar_type()))) << k << " moved at --mm_vision_tower_lr 0";
    changed += torch::equal(tm.at(k), t) ? 0 : 1;
  }
  EXPECT_GT(changed, tm.size() / 2) << "the tower hardly trained";
  r = run_imp("merge --model-path " + moved + " --model-base " + model_dir("train_phi2") + " --save-model-path " + m);
  ASSERT_EQ(r.code, 0) << r.output;
  const StateDict merged = load_model_dir(m);
  for (const auto& [k, t] : tm) EXPECT_TRUE(torch::equal(merged.at(k).to(t.scalar_type()), t)) << k;
  expect_merge_matches_adapter(m, model_dir("train_phi2"), moved, "logits");
}

// NUM-3: rank 1 only gets samples whose answer is cut off by model_max_length (every label ignored):
// no NaN, and rank 0's update equals a 1-rank run without those samples.
TEST_F(Train, AllIgnoredMicroBatchOnOneRankContributesNothing) {
  const Json data = read_json_file(data_path("train/data.json"));
  std::string words;
  for (int i = 0; i < 200; ++i) words += " word";
  const Json masked = {{"id", "long"}, {"image", data[0].at("image")},
                       {"conversations", {{{"from", "human"}, {"value", "<image>\n" + words}},
                                          {{"from", "gpt"}, {"value", "lost"}}}}};
  write_json_file(dir_ + "/mixed.json", Json::array({data[0], masked, data[1], masked}));
  write_json_file(dir_ + "/clean.json", Json::array({data[0], data[1]}));
  auto flags = [&](const std::string& o, const std::string& file) {
    std::string f = lora_flags(o, 2);
    f.replace(f.find("--per_device_train_batch_size 2 --gradient_accumulation_steps 2"), 63,
              "--per_device_train_batch_size 1 --gradient_accumulation_steps 1");
    f.replace(f.find(data_path("train/data.json")), data_path("train/data.json").size(), dir_ + "/" + file);
    return f;
  };
  auto r = run_imp(two_ranks(flags(out("mixed"), "mixed.json")));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(flags(out("clean"), "clean.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto mm = metrics(out("mixed")), mc = metrics(out("clean"));
  ASSERT_EQ(mm.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(std::isfinite(mm[i].at("loss").get<double>()));
    EXPECT_NEAR(mm[i].at("loss").get<double>(), mc[i].at("loss").get<double>(), 1e-6) << "step " << i + 1;
    EXPECT_EQ(mm[i].at("skipped_steps"), 0);
  }
  const auto a = load_safetensors(out("mixed") + "/adapter_model.safetensors");
  const auto b = load_safetensors(out("clean") + "/adapter_model.safetensors");
  for (const auto& [name, t] : b) EXPECT_TRUE(check_close(a.at(name), t, 1e-5, name));
}

// Full finetune writes a complete HF model directory that imp loads back.
// tie_word_embeddings true (Qwen1.5/Qwen2-0.5B style): LoRA on the tied lm_head trains, the adapter
// loads, imp merge unties the head (tie_word_embeddings false + lm_head.weight, the embedding unchanged)
// and equals the adapter's forward; a full finetune saves the tied weight once, as transformers does.
TEST_F(Train, TiedEmbeddingsTrainSaveAndMerge) {
  const std::string tied = out("tied_base");
  fs::copy(model_dir("train_phi2"), tied);
  Json cfg = read_json_file(tied + "/config.json");
  cfg["tie_word_embeddings"] = true;
  write_json_file(tied + "/config.json", cfg);
  StateDict sd = load_model_dir(tied);
  sd.erase("lm_head.weight");
  save_model_dir(tied, sd);
  auto with_base = [&](std::string f) {
    const std::string from = model_dir("train_phi2");
    f.replace(f.find(from), from.size(), tied);
    return f;
  };

  const auto o = out("lora"), m = out("merged");
  auto r = run_imp(with_base(lora_flags(o, 2, false)));
  ASSERT_EQ(r.code, 0) << r.output;
  const StateDict adapter = load_safetensors(o + "/adapter_model.safetensors");
  ASSERT_TRUE(adapter.count("base_model.model.lm_head.lora_B.weight"));
  EXPECT_GT(adapter.at("base_model.model.lm_head.lora_B.weight").abs().max().item<double>(), 0.0) << "not trained";
  r = run_imp("merge --model-path " + o + " --model-base " + tied + " --save-model-path " + m);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(read_json_file(m + "/config.json").at("tie_word_embeddings").get<bool>());
  const StateDict merged = load_model_dir(m);
  ASSERT_TRUE(merged.count("lm_head.weight"));
  EXPECT_TRUE(torch::equal(merged.at("model.embed_tokens.weight"), sd.at("model.embed_tokens.weight")));
  expect_merge_matches_adapter(m, tied, o, "tied merged logits");

  const auto full = out("full");
  std::string f = with_base(lora_flags(full, 2, false));
  f.replace(0, std::string("finetune-lora").size(), "finetune");
  f.replace(f.find(" --lora_r 4 --lora_alpha 8 --lora_dropout 0"), 43, "");
  r = run_imp(f);
  ASSERT_EQ(r.code, 0) << r.output;
  const StateDict after = load_model_dir(full);
  EXPECT_FALSE(after.count("lm_head.weight"));
  EXPECT_FALSE(torch::equal(after.at("model.embed_tokens.weight"), sd.at("model.embed_tokens.weight")));
  EXPECT_TRUE(read_json_file(full + "/config.json").at("tie_word_embeddings").get<bool>());
  r = run_imp("forward --model " + full + " --inputs " + dir_ + "/in.safetensors --output " + dir_ + "/full.safetensors");
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST_F(Train, FullFinetuneWritesAModelDirectory) {
  const auto o = out("full");
  std::string f = lora_flags(o, 2, false);
  f.replace(0, std::string("finetune-lora").size(), "finetune");
  f.replace(f.find(" --lora_r 4 --lora_alpha 8 --lora_dropout 0"), 43, "");
  auto r = run_imp(f);
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* file : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(o + "/" + file)) << file;
  const auto before = load_model_dir(model_dir("train_phi2")), after = load_model_dir(o);
  EXPECT_EQ(before.size(), after.size());
  EXPECT_FALSE(torch::equal(before.at("model.layers.0.mlp.fc1.weight"), after.at("model.layers.0.mlp.fc1.weight")));
  EXPECT_TRUE(torch::equal(before.at("model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight"),
                           after.at("model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding.weight")));
  r = run_imp("inspect " + o);
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST_F(Train, TensorBoardScalarsMatchMetrics) {
  const auto o = out("tb");
  auto r = run_imp(lora_flags(o, 3) + " --report_to tensorboard");
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(o + "/runs")) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 1u);
  std::vector<train::ScalarEvent> losses;
  for (const auto& e : train::read_tensorboard_scalars(files[0]))
    if (e.tag == "train/loss") losses.push_back(e);
  const auto m = metrics(o);
  ASSERT_EQ(losses.size(), m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(losses[i].step, m[i].at("step").get<int64_t>());
    EXPECT_FLOAT_EQ(losses[i].value, static_cast<float>(m[i].at("loss").get<double>()));
  }
}

// CKPT-7: rank 1 dies while writing its part of checkpoint-2: rank 0 fails at the pre-commit barrier, no
// marker is written, the launcher exits non-zero, and the next run resumes from the last commit.
TEST_F(Train, RankDyingMidSaveLeavesNoCommit) {
  const auto o = out("ckpt7");
  std::string f = lora_flags(o, 4) + " --save_steps 1 --ddp_timeout 20";
  f.replace(f.find("--per_device_train_batch_size 2"), 31, "--per_device_train_batch_size 1");
  auto r = run_imp(two_ranks(f), "IMP_FAULT=ckpt_write:rng_state_1.safetensors:10 IMP_FAULT_STEP=2");
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(o + "/checkpoint-1/COMMITTED")) << r.output;
  EXPECT_FALSE(fs::exists(o + "/checkpoint-2")) << r.output;
  r = run_imp(two_ranks(f));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from " + o + "/checkpoint-1"), std::string::npos) << r.output;
}


std::string ranks(int n, const std::string& flags) {
  return "launch --nproc_per_node " + std::to_string(n) + " --master_port 0 -- " + flags;
}

// The LoRA fixture at batch 1 per rank, in ~10 KB gradient buckets (the fixture's ~70 KB of trainables make
// several), with `extra` flags.
std::string bucketed_flags(const std::string& o, int steps, const std::string& extra = "") {
  std::string f = lora_flags(o, steps, false) + " --lora_dropout 0.1 --ddp_bucket_cap_mb 0.01" + extra;
  f.replace(f.find("--lora_dropout 0 "), 17, "");
  f.replace(f.find("--per_device_train_batch_size 2"), 31, "--per_device_train_batch_size 1");
  return f;
}

StateDict adapter(const std::string& o) { return load_safetensors(o + "/adapter_model.safetensors"); }

void expect_adapters_close(const std::string& a, const std::string& b, double tol, const std::string& label) {
  const auto x = adapter(a), y = adapter(b);
  ASSERT_EQ(x.size(), y.size());
  for (const auto& [name, t] : x) EXPECT_TRUE(check_close(y.at(name), t, tol, label + " " + name));
}

// Buckets sent during backward give the same weights as sending them all after it (bit for bit: a two-rank
// sum does not depend on order), and a rerun is bit-identical.
TEST_F(Train, OverlappedGradientSyncEqualsSerialOnTwoRanks) {
  const auto a = out("overlap"), b = out("serial"), c = out("again");
  auto r = run_imp(ranks(2, bucketed_flags(a, 4)));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto at = r.output.find("imp: gradient sync:");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto report = r.output.substr(at, r.output.find('\n', at) - at);
  EXPECT_EQ(report.find("all_reduce in 1 bucket"), std::string::npos) << report;  // several buckets
  if (IMP_TORCH_AT_LEAST(2, 1)) {  // post-accumulate-grad hooks; 1.x sends every bucket after backward
    EXPECT_EQ(report.find(" 0 started during backward"), std::string::npos) << report;
  }
  r = run_imp(ranks(2, bucketed_flags(b, 4)), "IMP_GRAD_SYNC=after_backward");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(" 0 started during backward"), std::string::npos) << r.output;
  r = run_imp(ranks(2, bucketed_flags(c, 4)));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(b + "/adapter_model.safetensors"));
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(c + "/adapter_model.safetensors"));
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ma[i].at("loss"), mb[i].at("loss")) << "step " << i + 1;
}

// ZeRO-1 against the unsharded optimizer on the same ranks and data: 2 and 3 Gloo ranks.
TEST_F(Train, ZeroOneMatchesUnshardedOnTwoAndThreeRanks) {
  for (int n : {2, 3}) {
    const auto plain = out("plain" + std::to_string(n)), zero = out("zero" + std::to_string(n));
    auto r = run_imp(ranks(n, bucketed_flags(plain, 4)));
    ASSERT_EQ(r.code, 0) << r.output;
    r = run_imp(ranks(n, bucketed_flags(zero, 4, " --zero_stage 1")));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("ZeRO-1 reduce_scatter"), std::string::npos) << r.output;
    const auto mp = metrics(plain), mz = metrics(zero);
    ASSERT_EQ(mz.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_NEAR(mz[i].at("loss").get<double>(), mp[i].at("loss").get<double>(), 1e-6) << n << " ranks, step " << i + 1;
      EXPECT_NEAR(mz[i].at("grad_norm").get<double>(), mp[i].at("grad_norm").get<double>(),
                  1e-6 * mp[i].at("grad_norm").get<double>()) << n << " ranks, step " << i + 1;
    }
    // Two ranks sum in one order either way; three ranks' all_reduce and reduce_scatter add in different
    // orders (fp32 rounding, ~1e-6 of the scale after 4 AdamW steps).
    expect_adapters_close(plain, zero, n == 2 ? 1e-6 : 1e-5, std::to_string(n) + " ranks");
  }
}

// The chunked loss (here 2 labelled rows per chunk) recomputes lm_head and its LoRA once per chunk, so their
// gradients are accumulated several times in one backward: GradSync must start their buckets only after
// backward. ZeRO-1 on 1 rank equals plain AdamW, and 2 overlapped ranks equal the serial schedule bit for bit.
TEST_F(Train, ChunkedLossHeadGradientsAreSyncedAfterBackward) {
  const std::string chunks = " --logits_chunk_size 2";
  const auto plain = out("chunk_plain"), zero = out("chunk_zero"), two = out("chunk_two"), serial = out("chunk_serial");
  auto r = run_imp(bucketed_flags(plain, 3, chunks));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(bucketed_flags(zero, 3, chunks + " --zero_stage 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  expect_adapters_close(plain, zero, 1e-6, "ZeRO-1 with a chunked loss");
  r = run_imp(ranks(2, bucketed_flags(two, 3, chunks)));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(ranks(2, bucketed_flags(serial, 3, chunks)), "IMP_GRAD_SYNC=after_backward");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(file_hash(two + "/adapter_model.safetensors"), file_hash(serial + "/adapter_model.safetensors"));
}

// ZeRO-1 checkpoints: a shard per rank + zero_layout.json; a 2-rank resume is bit-identical to a straight
// run; another world size is refused without --allow_world_size_change and resharded with it (3 ranks
// ZeRO-1, or 1 rank unsharded), where the resharded state continues like the original.
TEST_F(Train, ZeroOneCheckpointsResumeExactlyAndReshard) {
  const std::string z = " --zero_stage 1 --save_steps 3";
  const auto a = out("straight"), b = out("stopped");
  auto r = run_imp(ranks(2, bucketed_flags(a, 6, z)));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(ranks(2, bucketed_flags(b, 6, z)), "IMP_FAULT=signal_at:2:1");
  ASSERT_EQ(r.code, 75) << r.output;
  const std::string ckpt = b + "/checkpoint-2";
  ASSERT_TRUE(fs::exists(ckpt + "/COMMITTED")) << r.output;
  for (const char* f : {"optimizer_shard_0.safetensors", "optimizer_shard_1.safetensors", "zero_layout.json"})
    EXPECT_TRUE(fs::exists(ckpt + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(ckpt + "/optimizer.safetensors"));
  const Json manifest = read_json_file(ckpt + "/manifest.json");
  EXPECT_TRUE(manifest.at("files").contains("optimizer_shard_1.safetensors"));
  // Other world sizes, from copies of the checkpoint.
  for (const auto& [name, n, extra] : {std::tuple<std::string, int, std::string>{"three", 3, z},
                                       {"one_plain", 1, " --save_steps 3"}, {"two_plain", 2, " --save_steps 3"}}) {
    const auto o = out(name);
    fs::create_directories(o);
    fs::copy(ckpt, o + "/checkpoint-2", fs::copy_options::recursive);
    if (n != 2) {
      auto refused = run_imp(ranks(n, bucketed_flags(o, 6, extra)));
      EXPECT_EQ(refused.code, 2) << refused.output;
      EXPECT_NE(refused.output.find("allow_world_size_change"), std::string::npos) << refused.output;
    }
    r = run_imp(ranks(n, bucketed_flags(o, 6, extra + " --allow_world_size_change")));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("resharding the ZeRO-1 optimizer state"), std::string::npos) << r.output;
    EXPECT_EQ(metrics(o).size(), 4u);  // steps 3-6 (the copy has no metrics.jsonl of steps 1-2)
  }
  // Same ranks and data: the unsharded optimizer resumed from the gathered shards continues like ZeRO-1.
  r = run_imp(ranks(2, bucketed_flags(b, 6, z)));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(file_hash(a + "/adapter_model.safetensors"), file_hash(b + "/adapter_model.safetensors"));
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(mb.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(ma[i].at("loss"), mb[i].at("loss")) << "step " << i + 1;
  expect_adapters_close(a, out("two_plain"), 1e-6, "unsharded resume of a ZeRO-1 checkpoint");
}

// --print_memory_plan from a config alone: Imp-4B full fine-tune on 8 x 40 GB with ZeRO-1 and the recipe's
// fp16 (half weights, fp32 masters in the shards) fits with SDPA attention (LibTorch 2.x); eager attention (all
// LibTorch 1.13 has) holds a layer's [4, 32, 2560, 2560] probabilities and their gradients in backward and does
// not; without ZeRO it does not.
TEST_F(Train, MemoryPlanFromAConfigAlone) {
  const std::string cfg = (fs::path(IMP_TEST_DATA) / ".." / ".." / "configs/models/imp-v1.5-4b-phi3.json").string();
  const std::string recipe = "finetune --model_name_or_path " + cfg +
                             " --print_memory_plan --world_size 8 --per_device_train_batch_size 4 --fp16 True"
                             " --model_max_length 3072 --gradient_checkpointing True";
  auto r = run_imp(recipe + " --zero_stage 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("on 8 rank(s), ZeRO stage 1, micro-batch 4 x 2560 tokens"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(compat::kHasSdpa ? "fits a 40 GB device: yes" : "fits a 40 GB device: no"), std::string::npos)
      << r.output;
  r = run_imp(recipe + " --zero_stage 0");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("fits a 40 GB device: no"), std::string::npos) << r.output;
  r = run_imp("finetune --model_name_or_path " + out("nothing.json") + " --print_memory_plan");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("nothing.json"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace imp::test
