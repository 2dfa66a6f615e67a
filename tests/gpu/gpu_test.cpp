// CUDA checks (label gpu; skipped without a GPU): the fixtures on the GPU in fp32 against the HF
// goldens, fp16/bf16 within their tolerances, the fused SDPA path against eager, and the NCCL collectives
// (imp dist-check) with 1 rank and with 2 ranks when 2 GPUs are visible.
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <torch/cuda.h>

#include "imp/core/compat.h"
#include "imp/models/imp_model.h"
#include "test_utils.h"

namespace imp::test {
namespace {

class Gpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    at::globalContext().setAllowTF32CuBLAS(false);  // TF32 would cost ~1e-3 against fp32 goldens
    at::globalContext().setAllowTF32CuDNN(false);
  }
  std::unique_ptr<ImpModel> load(torch::ScalarType dtype, nn::AttentionImpl impl = nn::AttentionImpl::eager) {
    LoadSpec spec;
    spec.dtype = dtype;
    spec.device = torch::kCUDA;
    spec.attention = impl;
    return ImpModel::from_pretrained(model_dir(GetParam()), spec);
  }
  static ImpInputs inputs(const StateDict& g) {
    ImpInputs in;
    in.input_ids = g.at("input_ids");
    in.attention_mask = g.at("attention_mask");
    in.labels = g.at("labels");
    in.pixel_values = g.at("pixel_values");
    return in;
  }
};

TEST_P(Gpu, Fp32MatchesGolden) {
  auto g = golden(GetParam());
  torch::NoGradGuard no_grad;
  auto out = load(torch::kFloat32)->forward(inputs(g));
  EXPECT_TRUE(check_close(out.logits, g.at("logits"), 1e-4, GetParam() + " cuda fp32 logits"));
  EXPECT_TRUE(check_close(out.loss, g.at("loss"), 1e-4, GetParam() + " cuda fp32 loss"));
}

TEST_P(Gpu, HalfPrecisionWithinTolerance) {
  auto g = golden(GetParam());
  const auto mask = g.at("spliced_attention_mask").unsqueeze(-1);
  torch::NoGradGuard no_grad;
  for (auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    auto out = load(dtype)->forward(inputs(g));
    EXPECT_TRUE(check_close(out.logits, g.at("logits"), 5e-2, GetParam() + " cuda " + c10::toString(dtype), mask));
  }
}

TEST_P(Gpu, SdpaMatchesEager) {
  if (!compat::kHasSdpa) GTEST_SKIP() << "LibTorch " << compat::torch_version() << " has no SDPA";
  auto g = golden(GetParam());
  const auto mask = g.at("spliced_attention_mask").unsqueeze(-1);
  torch::NoGradGuard no_grad;
  auto eager = load(torch::kFloat32)->forward(inputs(g)).logits;
  auto sdpa = load(torch::kFloat32, nn::AttentionImpl::sdpa)->forward(inputs(g)).logits;
  EXPECT_TRUE(check_close(sdpa, eager, 1e-4, GetParam() + " sdpa vs eager", mask));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpu, ::testing::Values("imp_phi2", "imp_qwen2", "imp_phi3"));

TEST(GpuDist, NcclOneRank) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto r = run_imp("dist-check --device cuda --size-mb 1 --iters 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("dist-check: OK"), std::string::npos) << r.output;
}

TEST(GpuDist, NcclTwoRanks) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus < 2) GTEST_SKIP() << "needs 2 GPUs, " << gpus << " visible";
  auto r = run_imp("launch --nproc_per_node 2 --master_port 0 -- dist-check --device cuda --size-mb 4 --iters 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("backend nccl"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("dist-check: OK (2 ranks)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace imp::test
