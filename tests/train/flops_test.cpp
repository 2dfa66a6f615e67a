// Training-step FLOP count (include/imp/train/flops.h) on the tiny Imp fixture, against sums over the
// model's named parameters (2-D weights by part), for stage 1, LoRA, full finetune and recomputation.
#include <gtest/gtest.h>

#include "imp/models/imp_model.h"
#include "imp/models/lora.h"
#include "imp/nn/layers.h"
#include "imp/train/flops.h"
#include "imp/train/train_model.h"
#include "test_utils.h"

namespace imp::test {
namespace {

struct Weights {
  double decoder = 0, head = 0, tower = 0, projector = 0, lora = 0;
};

bool has(const std::string& s, const char* p) { return s.find(p) != std::string::npos; }

Weights weights(torch::nn::Module& root) {
  Weights w;
  for (const auto& item : root.named_parameters()) {
    const auto& n = item.key();
    const auto& t = item.value();
    if (t.dim() != 2 || has(n, "embed_tokens") || has(n, "position_embedding")) continue;
    const double k = static_cast<double>(t.numel());
    if (has(n, ".lora_")) w.lora += k;
    else if (has(n, "vision_tower.")) w.tower += k;
    else if (has(n, "mm_projector.")) w.projector += k;
    else if (has(n, "lm_head")) w.head += k;
    else w.decoder += k;
  }
  return w;
}

class Flops : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = ImpModel::from_pretrained(model_dir("imp_phi2"));
    for (auto& p : root().parameters()) p.set_requires_grad(false);
    shape_.add_rows(2, 40, 2);  // 2 rows of 40 spliced positions, 2 images
    const auto& c = model_->config();
    patches_ = 2.0 * static_cast<double>(c.vision.num_patches());
    patch_embed_ = static_cast<double>(c.vision.num_channels * c.vision.patch_size * c.vision.patch_size *
                                       c.vision.hidden_size);
    const double p = static_cast<double>(c.vision.num_patches());
    text_attn_ = 4.0 * 2 * 40 * 40 * static_cast<double>(c.text.num_attention_heads * c.text.head_dim) *
                 static_cast<double>(c.text.num_hidden_layers);
    tower_attn_ = 4.0 * 2 * p * p * static_cast<double>(c.vision.hidden_size * c.vision_layers_kept());
  }
  torch::nn::Module& root() { return model_->root(); }
  train::StepFlops count(bool checkpointing) {
    return train::train_step_flops(root(), model_->config(), shape_, checkpointing);
  }
  // Forward-only tower and patch embedding, per step.
  double tower_forward(const Weights& w) const { return patches_ * 2 * (w.tower + patch_embed_) + tower_attn_; }

  std::unique_ptr<ImpModel> model_;
  train::StepShape shape_;
  double patches_ = 0, patch_embed_ = 0, text_attn_ = 0, tower_attn_ = 0;
  const double positions_ = 80;
};

TEST_F(Flops, NothingTrainsIsForwardOnly) {
  const auto w = weights(root());
  const auto f = count(false);
  const double want = positions_ * 2 * (w.decoder + w.head) + text_attn_ + patches_ * 2 * w.projector + tower_forward(w);
  EXPECT_DOUBLE_EQ(f.model, want);
  EXPECT_DOUBLE_EQ(f.hardware, want);
}

// --logits_chunk_size: lm_head runs on the labelled rows only (StepShape::scored), nothing else changes.
TEST_F(Flops, ScoredRowsOnlyShrinkTheHead) {
  const auto w = weights(root());
  shape_.scored = 12;
  const auto f = count(false);
  const double want = positions_ * 2 * w.decoder + 12 * 2 * w.head + text_attn_ + patches_ * 2 * w.projector +
                      tower_forward(w);
  EXPECT_DOUBLE_EQ(f.model, want);
}

TEST_F(Flops, Stage1ProjectorTrainsGradientsFlowThroughTheFrozenDecoder) {
  for (auto& p : root().named_parameters())
    if (has(p.key(), "mm_projector.")) p.value().set_requires_grad(true);
  const auto w = weights(root());
  const auto f = count(false);
  const double want = positions_ * 4 * (w.decoder + w.head) + 3 * text_attn_ + patches_ * 6 * w.projector +
                      tower_forward(w);
  EXPECT_DOUBLE_EQ(f.model, want);
}

TEST_F(Flops, LoraCountsAdaptersAsTrainedAndBaseAsFrozen) {
  for (const auto& path : lora_targets(root(), train::find_all_linear_names(root()),
                                       {"model.vision_tower.", "model.mm_projector."}))
    dynamic_cast<nn::LinearImpl*>(root().named_modules()[path].get())->add_lora(4, 8, 0.0);
  for (auto& p : root().named_parameters())
    p.value().set_requires_grad(has(p.key(), ".lora_") || has(p.key(), "mm_projector."));
  const auto w = weights(root());
  ASSERT_GT(w.lora, 0);
  const auto f = count(false);
  const double want = positions_ * (4 * (w.decoder + w.head) + 6 * w.lora) + 3 * text_attn_ +
                      patches_ * 6 * w.projector + tower_forward(w);
  EXPECT_DOUBLE_EQ(f.model, want);
}

TEST_F(Flops, FullFinetuneAndRecomputationOfCheckpointedLayers) {
  for (auto& p : root().named_parameters())
    if (!has(p.key(), "vision_tower.")) p.value().set_requires_grad(true);
  const auto w = weights(root());
  const auto plain = count(false), ckpt = count(true);
  const double want = positions_ * 6 * (w.decoder + w.head) + 3 * text_attn_ + patches_ * 6 * w.projector +
                      tower_forward(w);
  EXPECT_DOUBLE_EQ(plain.model, want);
  EXPECT_DOUBLE_EQ(ckpt.model, want) << "recomputation is not useful work";
  // One more forward of the decoder layers (not of lm_head, which sits outside them).
  EXPECT_DOUBLE_EQ(ckpt.hardware - ckpt.model, positions_ * 2 * w.decoder + text_attn_);
}

TEST(PeakFlops, CpuPeakIsMeasuredOncePerDtype) {
  const auto a = train::peak_flops(torch::kCPU, torch::kFloat32);
  EXPECT_GT(a.flops_per_s, 1e8) << a.source;
  EXPECT_NE(a.source.find("measured"), std::string::npos) << a.source;
  const auto b = train::peak_flops(torch::kCPU, torch::kFloat32);
  EXPECT_EQ(a.flops_per_s, b.flops_per_s) << "cached per dtype";
}

}  // namespace
}  // namespace imp::test
