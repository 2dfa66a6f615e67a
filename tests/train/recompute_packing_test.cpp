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
#include "imp/train/memory_plan.h"
#include "imp/train/train_model.h"
#include "test_utils.h"

namespace imp::test {
namespace {

std::string repo_path(const std::string& rel) {
  return (std::filesystem::path(IMP_TEST_DATA) / ".." / ".." / rel).string();
}

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
  lm.recompute = {0, true, [](const train::BatchShape&) { return int64_t{1}; }};  // as auto: 1 whole, 1 selective
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

// The auto plan sees what the decoder computes: a packed row as its samples (eager attention scores only
// each sample's own pairs), the labelled rows and the images of the micro-batch.
TEST_P(RecomputePacking, AutoPlanSeesTheSamplesOfAPackedRow) {
  auto& lm = *model_->lm;
  std::vector<train::BatchShape> seen;
  lm.recompute = {0, true, [&seen](const train::BatchShape& b) {
                    seen.push_back(b);
                    return int64_t{0};
                  }};
  run(false);
  run(true);
  ASSERT_EQ(seen.size(), 2u);
  const int64_t image_rows = model_->config().vision.num_patches() - 1;  // the splice replaces <image>
  const double a = 9 + image_rows, b = 14, c = 5 + image_rows;  // the three samples after the splice
  const double longest = std::max({a, b, c});
  EXPECT_DOUBLE_EQ(seen[0].positions, 3 * longest);
  EXPECT_DOUBLE_EQ(seen[0].pairs, 3 * longest * longest);
  EXPECT_DOUBLE_EQ(seen[1].positions, a + b + c);
  EXPECT_DOUBLE_EQ(seen[1].pairs, a * a + b * b + c * c);
  for (const auto& s : seen) {
    EXPECT_DOUBLE_EQ(s.images, 2);
    EXPECT_GT(s.scored, 0);
    EXPECT_LT(s.scored, a + b + c);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RecomputePacking,
                         ::testing::Combine(::testing::Values("imp_phi2", "imp_qwen2", "imp_phi3"),
                                            ::testing::Values("eager", "sdpa")));

// The activation setup the memory plan derives from the flags is what the built model stores (dtypes,
// attention kernel, LoRA of a layer), and the runtime plan's fixed part is the memory plan's, ZeRO-1 included.
TEST(CheckpointPlan, SetupAndFixedPartMatchTheMemoryPlan) {
  for (const char* name : {"tiny-imp-phi2.json", "tiny-imp-qwen2.json", "tiny-imp-phi3.json"}) {
    const auto cfg = train::plan_config(repo_path(std::string("configs/models/") + name));
    for (const bool half_base : {true, false}) {
      train::TrainArgs a = train::stage_defaults(train::Stage::finetune_lora);
      a.mm_projector_type = cfg.mm_projector_type;
      a.mm_vision_select_layer = cfg.mm_vision_select_layer;
      a.bf16 = true;
      a.half_base = half_base;
      a.lora_r = 8;
      a.attn_implementation = "eager";
      ImpModel model(cfg);
      auto& root = model.root();
      for (auto& p : root.parameters()) p.set_requires_grad(false);
      for (const auto& path : lora_targets(root, train::find_all_linear_names(root),
                                           {"model.vision_tower.", "model.mm_projector."}))
        dynamic_cast<nn::LinearImpl*>(root.named_modules()[path].get())->add_lora(a.lora_r, a.lora_alpha, a.lora_dropout);
      for (auto& item : root.named_parameters())
        if (item.key().find(".lora_") != std::string::npos || item.key().find("mm_projector") != std::string::npos)
          item.value().set_requires_grad(true);
      if (half_base) train::cast_frozen_weights(root, torch::kBFloat16);
      model.set_attention_impl(nn::AttentionImpl::eager);

      const auto from_model = train::activation_setup(model, true, a.logits_chunk_size);
      const auto from_args = train::activation_setup(cfg, a, train::Stage::finetune_lora);
      const std::string what = std::string(name) + (half_base ? ", bf16 base" : ", fp32 base");
      EXPECT_EQ(from_model.act_bytes, 2) << what;
      EXPECT_EQ(from_model.stream_bytes, half_base ? 2 : 4) << what;  // the embedding's dtype
      EXPECT_EQ(from_args.stream_bytes, from_model.stream_bytes) << what;
      EXPECT_EQ(from_args.image_bytes, from_model.image_bytes) << what;
      EXPECT_EQ(from_args.eager, from_model.eager) << what;
      EXPECT_EQ(from_args.lora_ranks, from_model.lora_ranks) << what;
      EXPECT_EQ(from_args.lora_dropout_in, from_model.lora_dropout_in) << what;
      EXPECT_EQ(from_args.logits_chunk, from_model.logits_chunk) << what;

      a.zero_stage = 1;
      for (const int64_t world : {1, 8}) {
        const auto mem = train::plan_memory(cfg, a, train::Stage::finetune_lora, world);
        const auto plan = train::make_checkpoint_plan(model, a, train::Stage::finetune_lora, world, torch::kCPU, 0);
        EXPECT_DOUBLE_EQ(plan.fixed_bytes, mem.weights + mem.gradients + mem.optimizer) << what << ", " << world;
      }
    }
  }
}

// --print_memory_plan's activations and the auto plan are one estimate: the same peak for the recipe's
// micro-batch, and with a budget the plan prints the whole layers the run would choose.
TEST(CheckpointPlan, MemoryPlanUsesTheSameEstimate) {
  const auto cfg = train::plan_config(repo_path("configs/models/imp-v1.5-3b-phi2.json"));
  train::TrainArgs a = train::stage_defaults(train::Stage::finetune_lora);
  a.bf16 = true;
  a.lora_r = 256;
  a.per_device_train_batch_size = 4;
  a.model_max_length = 3072;
  const auto est = train::estimate_activations(cfg, train::activation_setup(cfg, a, train::Stage::finetune_lora));
  for (const std::string mode : {"none", "full", "selective"}) {
    a.gradient_checkpointing = mode;
    const auto p = train::plan_memory(cfg, a, train::Stage::finetune_lora, 1);
    const auto shape = train::BatchShape::padded(p.micro_batch, p.seq_len, p.micro_batch);
    const int64_t whole = mode == "full" ? est.layers : 0;
    EXPECT_EQ(p.whole_layers, whole) << mode;
    EXPECT_DOUBLE_EQ(p.activations, est.peak(shape, whole, mode == "selective")) << mode;
  }
  a.gradient_checkpointing = "auto";
  const auto full = train::plan_memory(cfg, a, train::Stage::finetune_lora, 1);  // no budget: all whole
  EXPECT_EQ(full.whole_layers, est.layers);
  train::CheckpointPlan plan;
  plan.activations = est;
  plan.fixed_bytes = full.weights + full.gradients + full.optimizer;
  const auto shape = train::BatchShape::padded(full.micro_batch, full.seq_len, full.micro_batch);
  // A budget half-way between all layers whole and none (eager attention on LibTorch 1.13 moves both ends).
  plan.budget_bytes = plan.fixed_bytes + (est.peak(shape, est.layers, true) + est.peak(shape, 0, true)) / 2;
  a.memory_budget_gb = plan.budget_bytes / (1024.0 * 1024 * 1024);
  const auto p = train::plan_memory(cfg, a, train::Stage::finetune_lora, 1);
  EXPECT_EQ(p.whole_layers, plan.full_layers(shape));
  EXPECT_GT(p.whole_layers, 0);
  EXPECT_LT(p.whole_layers, est.layers);
  EXPECT_LE(p.total(), plan.budget_bytes * (1 + 1e-12));
}

}  // namespace
}  // namespace imp::test
