// CUDA workflows that need the image pipeline (label gpu; skipped without a GPU): greedy generation with
// the KV cache against the HF goldens, LoRA training on the tiny fixture in bf16 and in fp16 with dynamic
// loss scaling against the Python reference curve, and exact checkpoint resume on the GPU.
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <torch/cuda.h>

#include <filesystem>

#include "eval/eval_test_utils.h"
#include "imp/core/sha256.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/eval/generate.h"
#include "train/train_test_utils.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

// Called from SetUp: GoogleTest then skips the test body (a GTEST_SKIP in a helper called from the body
// would only leave the helper).
void require_gpu() {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
}

class GpuGenerate : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { require_gpu(); }
};

TEST_P(GpuGenerate, GreedyWithKvCacheMatchesHF) {
  at::globalContext().setAllowTF32CuBLAS(false);
  const std::string dec = GetParam();
  eval::SessionOptions o;
  o.model_path = model_dir("gen_" + dec);
  o.device = "cuda";
  o.dtype = "float32";
  auto s = eval::Session::open(o);
  const auto golden = read_jsonl(data_path("golden/generate_" + dec + ".jsonl"));
  const auto questions = read_jsonl(data_path("eval/questions.jsonl"));
  eval::GenerationConfig g;
  g.max_new_tokens = 16;
  g.eos_ids = s.ids.eos;
  std::vector<eval::Prompt> prompts;
  for (const auto& q : questions) {
    eval::Prompt p;
    p.input_ids = data::tokenizer_image_token(
        data::render(data::get_template(dec), {"<image>\n" + q["text"].get<std::string>(), ""}), *s.tokenizer);
    p.pixels = s.pixels_from_file(data_path("eval/images/" + q["image"].get<std::string>()));
    prompts.push_back(std::move(p));
  }
  eval::Generator gen(*s.model, *s.tokenizer);
  const auto batched = gen.generate(prompts, g);
  ASSERT_EQ(batched.size(), golden.size());
  for (size_t i = 0; i < golden.size(); ++i) {
    const auto want = golden[i]["new_ids"].get<std::vector<int64_t>>();
    const auto one = gen.generate({prompts[i]}, g)[0].ids;
    // Stop strings are not set here, so a golden that stopped on one is a prefix of the answer.
    ASSERT_GE(one.size(), want.size()) << dec << " question " << i;
    EXPECT_EQ(std::vector<int64_t>(one.begin(), one.begin() + want.size()), want) << dec << " batch 1, question " << i;
    ASSERT_GE(batched[i].ids.size(), want.size()) << dec << " batched, question " << i;
    EXPECT_EQ(std::vector<int64_t>(batched[i].ids.begin(), batched[i].ids.begin() + want.size()), want)
        << dec << " batched, question " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Decoders, GpuGenerate, ::testing::Values("phi2", "qwen2", "phi3"));

class GpuTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    require_gpu();
    dir_ = (fs::temp_directory_path() / ("imp_gpu_train_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure() && !dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_;
};

// The HF + PEFT fp32 reference curve (golden/train_lora_phi2.json) within half-precision tolerance.
void expect_near_reference(const std::vector<Json>& got, double rel, const std::string& label) {
  const Json g = read_json_file(data_path("golden/train_lora_phi2.json"));
  const auto& steps = g.at("steps");
  ASSERT_EQ(got.size(), steps.size()) << label;
  double worst = 0;
  size_t worst_step = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const double want = steps[i].at("loss").get<double>(), have = got[i].at("loss").get<double>();
    const double err = std::abs(have - want) / std::abs(want);
    if (err > worst) worst = err, worst_step = i + 1;
  }
  EXPECT_LE(worst, rel) << label << ": max relative loss error " << worst << " at step " << worst_step;
}

TEST_F(GpuTrain, LoraBf16FollowsReference) {
  const auto o = dir_ + "/bf16";
  auto r = run_imp(lora_flags(o, 20, true, "cuda") + " --bf16 True");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_near_reference(metrics(o), 2e-2, "cuda bf16");
}

TEST_F(GpuTrain, LoraFp16WithLossScalingFollowsReference) {
  const auto o = dir_ + "/fp16";
  auto r = run_imp(lora_flags(o, 20, true, "cuda") + " --fp16 True");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = metrics(o);
  expect_near_reference(m, 2e-2, "cuda fp16");
  ASSERT_FALSE(m.empty());
  EXPECT_GT(m.back().at("loss_scale").get<double>(), 1.0) << "fp16 runs with a dynamic loss scale";
}

TEST_F(GpuTrain, ResumeIsBitIdentical) {
  const std::string extra = " --lora_dropout 0.2 --save_steps 100";
  const auto a = dir_ + "/straight", b = dir_ + "/resumed";
  auto r = run_imp(lora_flags(a, 8, false, "cuda") + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_imp(lora_flags(b, 8, false, "cuda") + extra, "IMP_FAULT=signal_at:4");
  ASSERT_EQ(r.code, 75) << r.output;
  ASSERT_TRUE(fs::exists(b + "/checkpoint-4/COMMITTED")) << r.output;
  r = run_imp(lora_flags(b, 8, false, "cuda") + extra);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 8u);
  ASSERT_EQ(mb.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(ma[i].at("loss"), mb[i].at("loss")) << "step " << i + 1;
  EXPECT_EQ(sha256_file(a + "/adapter_model.safetensors"), sha256_file(b + "/adapter_model.safetensors"));
}

}  // namespace
}  // namespace imp::test
