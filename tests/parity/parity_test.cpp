// Golden parity against HF transformers / PEFT (fixtures from scripts/make_fixtures.py, see
// tests/data/README.md): logits, loss, tower and projector outputs, the splice, and gradients.
#include <gtest/gtest.h>

#include "imp/models/imp_model.h"
#include "imp/models/lora.h"
#include "test_utils.h"

namespace imp::test {
namespace {

constexpr double kFp32Tol = 1e-5;  // scale-relative, see check_close

ImpInputs inputs_of(const StateDict& g) {
  ImpInputs in;
  in.input_ids = g.at("input_ids");
  in.attention_mask = g.at("attention_mask");
  if (g.count("labels")) in.labels = g.at("labels");
  if (g.count("pixel_values")) in.pixel_values = g.at("pixel_values");
  return in;
}

// Checks every "grad.<param>" of the golden against the model's gradients after loss.backward().
void check_grads(torch::nn::Module& root, const StateDict& g, double tol) {
  StateDict params = module_state(root);
  int checked = 0;
  for (const auto& [key, expected] : g) {
    if (key.rfind("grad.", 0) != 0) continue;
    std::string name = key.substr(5);
    if (name.rfind("base_model.model.", 0) == 0) name = name.substr(17);  // PEFT-wrapped names
    ASSERT_TRUE(params.count(name)) << "no parameter " << name;
    ASSERT_TRUE(params.at(name).grad().defined()) << "no gradient for " << name;
    EXPECT_TRUE(check_close(params.at(name).grad(), expected, tol, key));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

class DecoderParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderParity, LogitsLossAndGradientsFp32) {
  auto g = golden(GetParam());
  auto model = ImpModel::from_pretrained(model_dir(GetParam()));
  model->root().eval();
  auto out = model->forward(inputs_of(g));
  EXPECT_TRUE(check_close(out.logits, g.at("logits"), kFp32Tol, GetParam() + " logits"));
  EXPECT_TRUE(check_close(out.loss, g.at("loss"), kFp32Tol, GetParam() + " loss"));
  out.loss.backward();
  check_grads(model->root(), g, kFp32Tol);
}

TEST_P(DecoderParity, LogitsBf16) {
  auto g = golden(GetParam());
  LoadSpec spec;
  spec.dtype = torch::kBFloat16;
  auto model = ImpModel::from_pretrained(model_dir(GetParam()), spec);
  model->root().eval();
  torch::NoGradGuard no_grad;
  auto out = model->forward(inputs_of(g));
  EXPECT_TRUE(check_close(out.logits, g.at("logits_bf16"), kBf16Tol, GetParam() + " bf16 logits"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderParity,
                         ::testing::Values("phi2", "qwen2", "phi3", "phi3_su", "phi3_yarn", "tied_phi2", "tied_qwen2",
                                           "tied_phi3"));

TEST(TiedEmbeddings, LmHeadIsTheEmbeddingTensor) {
  for (const std::string name : {"tied_phi2", "tied_qwen2", "tied_phi3"}) {
    auto model = ImpModel::from_pretrained(model_dir(name));
    const StateDict params = module_state(model->root());
    EXPECT_FALSE(params.count("lm_head.weight")) << name << ": a tied lm_head.weight is saved under the embedding";
    auto* head = dynamic_cast<nn::LinearImpl*>(model->root().named_modules()["lm_head"].get());
    ASSERT_NE(head, nullptr);
    EXPECT_TRUE(head->weight.is_same(params.at("model.embed_tokens.weight"))) << name;
  }
}

TEST(RopeScalingParity, ShortFactorsBelowOriginalWindow) {
  for (const std::string name : {"phi3_su", "phi3_yarn"}) {
    auto g = golden(name);
    auto model = ImpModel::from_pretrained(model_dir(name));
    torch::NoGradGuard no_grad;
    ImpInputs in;
    in.input_ids = g.at("input_ids").slice(1, 0, 8);
    in.attention_mask = g.at("attention_mask").slice(1, 0, 8);
    EXPECT_TRUE(check_close(model->forward(in).logits, g.at("logits_short"), kFp32Tol, name + " short logits"));
  }
}

TEST(SiglipParity, ImageFeatures) {
  auto g = golden("siglip");
  auto model = ImpModel::from_pretrained(model_dir("siglip"));
  torch::NoGradGuard no_grad;
  ImpInputs in;
  in.pixel_values = g.at("pixel_values");
  EXPECT_TRUE(check_close(model->forward(in).image_features, g.at("image_features"), kFp32Tol, "siglip features"));
}

class ImpParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ImpParity, SpliceLogitsLossAndGradients) {
  const std::string name = "imp_" + GetParam();
  auto g = golden(name);
  auto model = ImpModel::from_pretrained(model_dir(name));
  model->root().eval();
  auto out = model->forward(inputs_of(g));
  EXPECT_TRUE(check_close(out.image_features, g.at("image_features"), kFp32Tol, name + " image_features"));
  EXPECT_TRUE(check_close(out.image_embeds, g.at("image_embeds"), kFp32Tol, name + " image_embeds"));
  EXPECT_TRUE(torch::equal(out.labels, g.at("spliced_labels"))) << name << ": spliced labels differ";
  EXPECT_TRUE(torch::equal(out.attention_mask, g.at("spliced_attention_mask"))) << name << ": spliced mask differs";
  EXPECT_TRUE(check_close(out.logits, g.at("logits"), kFp32Tol, name + " logits"));
  EXPECT_TRUE(check_close(out.loss, g.at("loss"), kFp32Tol, name + " loss"));
  out.loss.backward();
  check_grads(model->root(), g, kFp32Tol);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ImpParity, ::testing::Values("phi2", "qwen2", "phi3"));

TEST(LoraParity, PeftAdapterUnmergedAndMerged) {
  auto g = golden("imp_phi2_lora");
  auto model = ImpModel::from_pretrained(model_dir("imp_phi2"));
  load_lora_adapter(*model, model_dir("imp_phi2_lora"));
  model->root().eval();
  auto out = model->forward(inputs_of(g));
  EXPECT_TRUE(check_close(out.image_embeds, g.at("image_embeds"), kFp32Tol, "lora image_embeds"));
  EXPECT_TRUE(check_close(out.logits, g.at("logits"), kFp32Tol, "lora logits"));
  EXPECT_TRUE(check_close(out.loss, g.at("loss"), kFp32Tol, "lora loss"));
  out.loss.backward();
  check_grads(model->root(), g, kFp32Tol);

  EXPECT_EQ(merge_lora(model->root()), 26u / 2);
  StateDict params = module_state(model->root());
  for (const auto& [key, expected] : g) {
    if (key.rfind("merged.", 0) != 0) continue;
    EXPECT_TRUE(check_close(params.at(key.substr(7)), expected, kFp32Tol, key));
  }
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(check_close(model->forward(inputs_of(g)).logits, g.at("logits"), kFp32Tol, "merged lora logits"));
}

// PEFT 0.11.1 adapters with more than LoRA matrices (scripts/make_interop_fixtures.py): the adapter on its
// base gives PEFT's logits, loss and gradients; merging gives the weights of a merge that keeps the
// adapter's function (a tied lm_head is untied) and the same logits.
class PeftAdapterParity : public ::testing::TestWithParam<std::string> {};

TEST_P(PeftAdapterParity, UnmergedAndMerged) {
  const std::string name = "lora_" + GetParam();
  auto g = golden(name);
  auto model = ImpModel::from_pretrained(adapter_base_dir(name));
  load_lora_adapter(*model, model_dir(name));
  auto out = model->forward(inputs_of(g));
  EXPECT_TRUE(check_close(out.logits, g.at("logits"), kFp32Tol, name + " logits"));
  EXPECT_TRUE(check_close(out.loss, g.at("loss"), kFp32Tol, name + " loss"));
  out.loss.backward();
  check_grads(model->root(), g, kFp32Tol);

  EXPECT_GT(merge_lora(model->root()), 0u);
  const StateDict params = module_state(model->root());
  EXPECT_EQ(params.count("lm_head.weight") == 0, g.at("merged.tie_word_embeddings").item<int64_t>() == 1)
      << name << ": the merged lm_head must be saved exactly when it is no longer the tied embedding";
  int checked = 0;
  for (const auto& [key, expected] : g) {
    if (key.rfind("merged.", 0) != 0 || key == "merged.tie_word_embeddings") continue;
    ASSERT_TRUE(params.count(key.substr(7))) << name << ": no tensor " << key.substr(7) << " after merging";
    EXPECT_TRUE(check_close(params.at(key.substr(7)), expected, kFp32Tol, name + " " + key));
    ++checked;
  }
  EXPECT_GT(checked, 0);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(check_close(model->forward(inputs_of(g)).logits, g.at("logits"), kFp32Tol, name + " merged logits"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PeftAdapterParity,
                         ::testing::Values("phi2_embed", "phi2_bias_all", "phi2_modules_to_save", "tied_qwen2",
                                           "tied_qwen2_modules_to_save"));

}  // namespace
}  // namespace imp::test
