// Selective / partial recomputation and padding-free packing on the tiny Phi-2, Qwen2 and Phi-3 Imp models
// (LoRA on every decoder linear, trainable projector, images spliced): the loss sum and every trainable
// gradient equal those of the plain padded batch with every activation kept.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <unistd.h>

#include "imp/core/compat.h"
#include "imp/core/dtype.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/models/imp_model.h"
#include "imp/models/labelled_loss.h"
#include "imp/models/lora.h"
#include "imp/nn/layers.h"
#include "imp/train/checkpoint_plan.h"
#include "imp/train/train_model.h"
#include "test_utils.h"

namespace imp::test {
namespace {

struct Result {
  double loss = 0;
  std::map<std::string, torch::Tensor> grads;
};

class RecomputePacking : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    if (std::get<1>(GetParam()) == "sdpa" && !compat::kHasSdpa) GTEST_SKIP() << "no SDPA in this LibTorch";
    load(true);
  }

  // dropout false: the fixture's config with resid/embd dropout 0 (packed and padded rows draw different masks).
  void load(bool dropout) {
    torch::manual_seed(0);
    std::string dir = model_dir(std::get<0>(GetParam()));
    std::filesystem::path tmp;
    if (!dropout) {
      tmp = std::filesystem::temp_directory_path() /
                       ("imp_nodropout_" + std::get<0>(GetParam()) + "_" + std::to_string(::getpid()));
      std::filesystem::create_directories(tmp);
      Json cfg = read_json_file(dir + "/config.json");
      cfg["resid_pdrop"] = 0.0;
      cfg["embd_pdrop"] = 0.0;
      write_json_file((tmp / "config.json").string(), cfg);
      std::filesystem::copy_file(dir + "/model.safetensors", tmp / "model.safetensors",
                                 std::filesystem::copy_options::overwrite_existing);
      dir = tmp.string();
    }
    model_ = ImpModel::from_pretrained(dir);
    if (!tmp.empty()) std::filesystem::remove_all(tmp);
    const std::string impl = std::get<1>(GetParam());
    model_->set_attention_impl(nn::parse_attention_impl(impl));
    auto& root = model_->root();
    for (auto& p : root.parameters()) p.set_requires_grad(false);
    for (const auto& path : lora_targets(root, train::find_all_linear_names(root),
                                         {"model.vision_tower.", "model.mm_projector."})) {
      auto* lin = dynamic_cast<nn::LinearImpl*>(root.named_modules()[path].get());
      lin->add_lora(4, 8, 0.0);
      torch::NoGradGuard no_grad;
      lin->lora_B->weight.normal_(0, 0.1);  // B = 0 would hide LoRA A's gradient
    }
    for (auto& item : root.named_parameters())
      if (item.key().find(".lora_") != std::string::npos || item.key().find("mm_projector") != std::string::npos)
        item.value().set_requires_grad(true);
    root.train();

    // Three samples of different lengths, right-padded: an image in the first and the last.
    const int64_t pad = 0, img = kImageTokenIndex;
    const std::vector<std::vector<int64_t>> ids = {{1, 5, img, 7, 9, 11, 3, 4, 2},
                                                   {1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 2},
                                                   {1, img, 40, 41, 2}};
    const int64_t len = 14, b = 3;
    in_.input_ids = torch::full({b, len}, pad, torch::kInt64);
    in_.attention_mask = torch::zeros({b, len}, torch::kInt64);
    in_.labels = torch::full({b, len}, kIgnoreIndex, torch::kInt64);
    for (int64_t i = 0; i < b; ++i)
      for (size_t t = 0; t < ids[i].size(); ++t) {
        in_.input_ids[i][t] = ids[i][t];
        in_.attention_mask[i][t] = 1;
        if (t >= 2 && ids[i][t] != img) in_.labels[i][t] = ids[i][t];  // the first tokens are "prompt"
      }
    const int64_t size = model_->config().vision.image_size;
    in_.pixel_values = torch::randn({2, 3, size, size});
    in_.compute_logits = false;
    in_.compute_loss = false;
  }

  Result run(bool pack) {
    auto& root = model_->root();
    for (auto& p : root.parameters())
      if (p.grad().defined()) p.mutable_grad().zero_();
    torch::manual_seed(7);  // dropout (Phi-2's resid_pdrop) draws the same masks in every mode
    ImpInputs in = in_;
    in.pack = pack;
    auto out = model_->forward(in);
    auto loss = labelled_loss_sum(*model_->lm, out.hidden, out.labels, 8);
    loss.backward();
    Result r;
    r.loss = loss.item<double>();
    for (auto& item : root.named_parameters())
      if (item.value().requires_grad()) r.grads[item.key()] = item.value().grad().clone();
    return r;
  }

  void expect_same(const Result& a, const Result& b, double tol, const std::string& what) {
    EXPECT_NEAR(a.loss, b.loss, tol * std::abs(b.loss)) << what;
    ASSERT_EQ(a.grads.size(), b.grads.size());
    for (const auto& [name, g] : b.grads) EXPECT_TRUE(check_close(a.grads.at(name), g, tol, what + " " + name));
  }

  std::unique_ptr<ImpModel> model_;
  ImpInputs in_;
};

TEST_P(RecomputePacking, RecomputationModesGiveTheSameGradients) {
  auto& lm = *model_->lm;
  lm.set_gradient_checkpointing(false);
  const auto plain = run(false);
  lm.set_gradient_checkpointing(true);
  expect_same(run(false), plain, 1e-5, "every layer whole");
  lm.recompute = {0, true, nullptr};
  expect_same(run(false), plain, 1e-5, "selective");
  lm.recompute = {0, true, [](int64_t, int64_t) { return int64_t{1}; }};  // what auto does: 1 whole, 1 selective
  expect_same(run(false), plain, 1e-5, "1 whole + selective");
  EXPECT_EQ(lm.last_full_layers(), 1);
}

TEST_P(RecomputePacking, PackedEqualsPadded) {
  load(false);
  auto& lm = *model_->lm;
  lm.set_gradient_checkpointing(false);
  const auto padded = run(false);
  expect_same(run(true), padded, 1e-4, "packed");
  lm.recompute = {1, true, nullptr};
  expect_same(run(true), padded, 1e-4, "packed, 1 whole + selective");
}

INSTANTIATE_TEST_SUITE_P(Models, RecomputePacking,
                         ::testing::Combine(::testing::Values("imp_phi2", "imp_qwen2", "imp_phi3"),
                                            ::testing::Values("eager", "sdpa")));

// The plan: the smallest number of whole layers that fits; all when nothing fits; none when all fit.
TEST(CheckpointPlan, PicksTheFewestWholeLayersThatFit) {
  train::CheckpointPlan plan;
  plan.layers = 8;
  plan.fixed_bytes = 1000;
  plan.layer = {1, 10, 30, 0.5};  // whole, selective, none per position; none per pair
  const int64_t rows = 2, len = 10;  // 20 positions, 200 pairs: transient 600 + 100
  EXPECT_DOUBLE_EQ(plan.estimate_bytes(rows, len, 0), 1000 + 20 * 80 + 700);
  EXPECT_DOUBLE_EQ(plan.estimate_bytes(rows, len, 8), 1000 + 20 * 8 + 700);
  plan.budget_bytes = 1e9;
  EXPECT_EQ(plan.full_layers(rows, len), 0);
  plan.budget_bytes = 10;
  EXPECT_EQ(plan.full_layers(rows, len), 8);
  plan.budget_bytes = 1000 + 20 * (3 * 1 + 5 * 10) + 700;  // exactly 3 whole layers
  EXPECT_EQ(plan.full_layers(rows, len), 3);
  EXPECT_EQ(plan.full_layers(rows, len / 2), 0);  // a shorter batch needs none
}

// The estimate orders the modes as they keep activations, and eager attention adds per-pair bytes.
TEST(CheckpointPlan, LayerEstimateOrdersTheModes) {
  auto model = ImpModel::from_pretrained(model_dir("imp_phi2"));
  const auto& c = model->config().text;
  for (auto impl : {nn::AttentionImpl::eager, nn::AttentionImpl::sdpa}) {
    const auto b = train::layer_activation_bytes(c, 2, impl, 0, 0);
    EXPECT_LT(b.whole, b.selective);
    EXPECT_LT(b.selective, b.none);
    EXPECT_EQ(b.none_per_pair > 0, impl == nn::AttentionImpl::eager);
  }
  EXPECT_GT(train::layer_activation_bytes(c, 2, nn::AttentionImpl::sdpa, 100, 8).selective,
            train::layer_activation_bytes(c, 2, nn::AttentionImpl::sdpa, 0, 0).selective);
}

}  // namespace
}  // namespace imp::test
