// Model-core behaviour that needs no golden: KV-cache decoding equals the full forward, strict
// loading names what is wrong, configs fail loudly, sharded round trips, LoRA merge equivalence.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "imp/core/compat.h"
#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/models/lora.h"
#include "test_utils.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("imp_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// Copies a fixture's config.json into a new dir and writes the given weights there.
std::string make_model_dir(const std::string& fixture, const StateDict& sd, const std::string& name) {
  auto dir = temp_dir(name);
  fs::copy_file(model_dir(fixture) + "/config.json", dir + "/config.json");
  save_model_dir(dir, sd);
  return dir;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class KvCache : public ::testing::TestWithParam<std::string> {};

// Prefill 5 tokens, then decode one token at a time: every step's logits equal the full forward.
TEST_P(KvCache, IncrementalDecodingMatchesFullForward) {
  auto model = ImpModel::from_pretrained(model_dir(GetParam()));
  torch::NoGradGuard no_grad;
  auto ids = golden(GetParam()).at("input_ids").slice(0, 0, 1);  // [1,16], no padding
  const int64_t len = ids.size(1);
  auto positions = torch::arange(len).unsqueeze(0);
  auto full = model->lm->logits(model->lm->forward_hidden(model->lm->embed(ids), {}, positions));

  nn::KVCache cache;
  auto prefill = model->lm->logits(
      model->lm->forward_hidden(model->lm->embed(ids.slice(1, 0, 5)), {}, positions.slice(1, 0, 5), &cache));
  EXPECT_TRUE(check_close(prefill, full.slice(1, 0, 5), 1e-5, "prefill"));
  for (int64_t t = 5; t < len; ++t) {
    auto step = model->lm->logits(model->lm->forward_hidden(model->lm->embed(ids.slice(1, t, t + 1)), {},
                                                            positions.slice(1, t, t + 1), &cache));
    EXPECT_TRUE(check_close(step, full.slice(1, t, t + 1), 1e-5, "decode step " + std::to_string(t)));
  }
  EXPECT_EQ(cache.length(), len);
}

INSTANTIATE_TEST_SUITE_P(Decoders, KvCache, ::testing::Values("phi2", "qwen2", "phi3"));

TEST(StrictLoading, MissingTensorIsNamed) {
  auto sd = load_model_dir(model_dir("phi2"));
  sd.erase("model.layers.1.mlp.fc2.bias");
  auto dir = make_model_dir("phi2", sd, "missing");
  auto msg = error_of([&] { ImpModel::from_pretrained(dir); });
  EXPECT_NE(msg.find("model.layers.1.mlp.fc2.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(StrictLoading, WrongShapeAndUnexpectedAreNamed) {
  auto sd = load_model_dir(model_dir("qwen2"));
  sd["model.norm.weight"] = torch::ones({31});
  sd["model.layers.7.bogus.weight"] = torch::ones({2});
  auto dir = make_model_dir("qwen2", sd, "shape");
  auto msg = error_of([&] { ImpModel::from_pretrained(dir); });
  EXPECT_NE(msg.find("model.norm.weight: checkpoint [31] vs model [32]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.7.bogus.weight"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(StrictLoading, PickleCheckpointsNameTheFileAndTheProblem) {
  auto dir = temp_dir("pickle");
  fs::copy_file(model_dir("phi2") + "/config.json", dir + "/config.json");
  std::ofstream(dir + "/pytorch_model.bin") << "not a checkpoint";
  auto msg = error_of([&] { ImpModel::from_pretrained(dir); });
  EXPECT_NE(msg.find(dir + "/pytorch_model.bin: is neither a zip archive nor a pickle"), std::string::npos) << msg;
  fs::remove(dir + "/pytorch_model.bin");
  std::ofstream(dir + "/weights.pt") << "not read";
  msg = error_of([&] { ImpModel::from_pretrained(dir); });
  EXPECT_NE(msg.find("found the pickle file 'weights.pt'"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(Config, UnknownModelTypeAndMissingKeysFail) {
  auto j = read_json_file(model_dir("phi2") + "/config.json");
  j["model_type"] = "llama";
  EXPECT_NE(error_of([&] { ModelConfig::from_json(j, "x/config.json"); }).find("model_type 'llama'"), std::string::npos);
  j = read_json_file(model_dir("phi2") + "/config.json");
  j.erase("hidden_size");
  EXPECT_NE(error_of([&] { ModelConfig::from_json(j, "x/config.json"); }).find("'hidden_size' is missing"),
            std::string::npos);
}

TEST(Config, VisionSelectLayerKeepsLayers) {
  auto c = ModelConfig::load(model_dir("imp_phi2"));
  EXPECT_EQ(c.kind, ModelKind::multimodal);
  EXPECT_EQ(c.vision.num_hidden_layers, 3);
  EXPECT_EQ(c.vision_layers_kept(), 2);  // -2: the last layer is dropped
  c.mm_vision_select_layer = -1;
  EXPECT_EQ(c.vision_layers_kept(), 3);  // deliberate fix: Python would delete every layer
  c.mm_vision_select_layer = 0;
  EXPECT_EQ(c.vision_layers_kept(), 1);
}

TEST(Config, VisionTowerDirIsAbsoluteOrNextToTheModel) {
  EXPECT_EQ(vision_tower_dir("/towers/siglip", "runs/imp"), "/towers/siglip");
  EXPECT_EQ(vision_tower_dir("siglip", "runs/imp"), "runs/imp/siglip");
  EXPECT_EQ(vision_tower_dir("../siglip", "runs/imp/"), "runs/imp/../siglip");
  EXPECT_EQ(vision_tower_dir("siglip", ""), "siglip");
  EXPECT_EQ(vision_tower_dir("", "runs/imp"), "");
}

TEST(Sharding, SavedShardsLoadToTheSameModel) {
  auto sd = load_model_dir(model_dir("imp_qwen2"));
  auto dir = temp_dir("shards");
  fs::copy_file(model_dir("imp_qwen2") + "/config.json", dir + "/config.json");
  save_model_dir(dir, sd, /*max_shard_bytes=*/20000);
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors.index.json"));
  auto back = load_model_dir(dir);
  ASSERT_EQ(back.size(), sd.size());
  for (const auto& [name, t] : sd) EXPECT_TRUE(torch::equal(back.at(name), t)) << name;
  fs::remove_all(dir);
}

TEST(Lora, MergedEqualsUnmerged) {
  auto model = ImpModel::from_pretrained(model_dir("qwen2"));
  torch::manual_seed(3);
  auto targets = lora_targets(model->root(), {"q_proj", "v_proj", "down_proj", "lm_head"});
  EXPECT_EQ(targets.size(), 2u * 3 + 1);
  StateDict params;
  for (const auto& item : model->root().named_modules("", false)) {
    if (auto* l = dynamic_cast<nn::LinearImpl*>(item.value().get())) {
      if (std::find(targets.begin(), targets.end(), item.key()) == targets.end()) continue;
      l->add_lora(4, 8.0, 0.0);
      torch::NoGradGuard g;
      l->lora_B->weight.normal_(0, 0.1);  // B starts at zero; make the adapter matter
    }
  }
  torch::NoGradGuard no_grad;
  auto g = golden("qwen2");
  ImpInputs in;
  in.input_ids = g.at("input_ids");
  in.attention_mask = g.at("attention_mask");
  auto before = model->forward(in).logits;
  EXPECT_FALSE(torch::allclose(before, g.at("logits"), 1e-3, 1e-3)) << "the adapter changed nothing";
  EXPECT_EQ(merge_lora(model->root()), targets.size());
  EXPECT_TRUE(check_close(model->forward(in).logits, before, 1e-5, "merged vs unmerged"));
  for (const auto& p : model->root().named_parameters()) EXPECT_EQ(p.key().find("lora_"), std::string::npos);
}

TEST(TiedEmbeddings, ExplicitLmHeadIsDroppedWhenEqualAndRefusedWhenNot) {
  auto sd = load_model_dir(model_dir("tied_qwen2"));
  ASSERT_FALSE(sd.count("lm_head.weight"));
  sd["lm_head.weight"] = sd.at("model.embed_tokens.weight").clone();
  auto dir = make_model_dir("tied_qwen2", sd, "tied_equal");
  EXPECT_EQ(error_of([&] { ImpModel::from_pretrained(dir); }), "(no error)");
  sd["lm_head.weight"].add_(1.0);
  save_model_dir(dir, sd);
  auto msg = error_of([&] { ImpModel::from_pretrained(dir); });
  EXPECT_NE(msg.find("lm_head.weight differs from model.embed_tokens.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"tie_word_embeddings\": false"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(TiedEmbeddings, MergingLoraIntoTheHeadUntiesIt) {
  auto model = ImpModel::from_pretrained(model_dir("tied_qwen2"));
  auto* head = dynamic_cast<nn::LinearImpl*>(model->root().named_modules()["lm_head"].get());
  const auto embed_before = module_state(model->root()).at("model.embed_tokens.weight").clone();
  head->add_lora(4, 8.0, 0.0);
  {
    torch::NoGradGuard g;
    head->lora_B->weight.normal_(0, 0.1);
  }
  EXPECT_EQ(merge_lora(model->root()), 1u);
  const auto params = module_state(model->root());
  ASSERT_TRUE(params.count("lm_head.weight"));
  EXPECT_FALSE(head->weight_tied());
  EXPECT_TRUE(torch::equal(params.at("model.embed_tokens.weight"), embed_before)) << "the merge changed the embedding";
  EXPECT_FALSE(torch::equal(params.at("lm_head.weight"), embed_before));
}

// A copy of a PEFT adapter fixture with its adapter_config.json edited.
std::string edited_adapter(const std::string& fixture, const std::string& key, const Json& value) {
  auto dir = temp_dir("adapter_" + fixture);
  fs::copy_file(model_dir(fixture) + "/adapter_model.safetensors", dir + "/adapter_model.safetensors");
  Json cfg = read_json_file(model_dir(fixture) + "/adapter_config.json");
  cfg[key] = value;
  write_json_file(dir + "/adapter_config.json", cfg);
  return dir;
}

TEST(PeftAdapter, FullTensorsMustBeExplainedByTheConfig) {
  // bias="all" tensors with bias "none": the message names the tensor and the PEFT options (lm_head's bias
  // passes as a save_embedding_layers tensor; the layer norm's does not).
  auto dir = edited_adapter("lora_phi2_bias_all", "bias", "none");
  auto model = ImpModel::from_pretrained(model_dir("phi2"));
  auto msg = error_of([&] { load_lora_adapter(*model, dir); });
  EXPECT_NE(msg.find("base_model.model.model.final_layernorm.bias' is neither a lora_A/lora_B weight"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("bias \"all\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("modules_to_save (here [])"), std::string::npos) << msg;
  fs::remove_all(dir);
  // modules_to_save copies without modules_to_save in the config.
  dir = edited_adapter("lora_phi2_modules_to_save", "modules_to_save", nullptr);
  model = ImpModel::from_pretrained(model_dir("phi2"));
  msg = error_of([&] { load_lora_adapter(*model, dir); });
  EXPECT_NE(msg.find("model.final_layernorm."), std::string::npos) << msg;
  fs::remove_all(dir);
  // an unknown bias option and DoRA fail in the config.
  dir = edited_adapter("lora_phi2_embed", "bias", "some");
  EXPECT_NE(error_of([&] { load_lora_adapter(*model, dir); }).find("bias 'some' is not a PEFT LoRA bias option"),
            std::string::npos);
  fs::remove_all(dir);
  dir = edited_adapter("lora_phi2_embed", "use_dora", true);
  EXPECT_NE(error_of([&] { load_lora_adapter(*model, dir); }).find("use_dora"), std::string::npos);
  fs::remove_all(dir);
}

TEST(PeftAdapter, ReplacedBaseTensorsAreReported) {
  auto model = ImpModel::from_pretrained(model_dir("phi2"));
  const auto loaded = load_lora_adapter(*model, model_dir("lora_phi2_modules_to_save"));
  EXPECT_EQ(loaded.lora_layers, 4u);
  const std::set<std::string> replaced(loaded.replaced.begin(), loaded.replaced.end());
  EXPECT_EQ(replaced, (std::set<std::string>{"lm_head.bias", "lm_head.weight", "model.final_layernorm.bias",
                                             "model.final_layernorm.weight"}));
}

TEST(Splice, ImageCountMismatchIsExplained) {
  auto model = ImpModel::from_pretrained(model_dir("imp_phi2"));
  auto g = golden("imp_phi2");
  ImpInputs in;
  in.input_ids = g.at("input_ids");
  in.attention_mask = g.at("attention_mask");
  in.pixel_values = g.at("pixel_values").slice(0, 0, 2);
  torch::NoGradGuard no_grad;
  auto msg = error_of([&] { model->forward(in); });
  EXPECT_NE(msg.find("pixel_values holds 2 images but input_ids has 3 <image> tokens"), std::string::npos) << msg;
}

TEST(Splice, ImagesWithoutDummySlotsGiveTheSameResult) {
  // The text-only sample is last, so dropping its dummy image must not change anything.
  auto model = ImpModel::from_pretrained(model_dir("imp_phi2"));
  auto g = golden("imp_phi2");
  ImpInputs in;
  in.input_ids = g.at("input_ids");
  in.attention_mask = g.at("attention_mask");
  in.pixel_values = g.at("pixel_values").slice(0, 0, 3);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(check_close(model->forward(in).logits, g.at("logits"), 1e-5, "logits without dummy"));
}

}  // namespace
}  // namespace imp::test

namespace imp::test {
namespace {

std::string config_path(const std::string& name) {
  return std::string(IMP_TEST_DATA) + "/../../configs/models/" + name + ".json";
}

TEST(ReleasedConfigs, ParseWithTheDocumentedShapes) {
  auto v1 = ModelConfig::from_json(read_json_file(config_path("imp-v1-3b")), "imp-v1-3b");
  EXPECT_EQ(v1.text.arch, Arch::phi2);
  EXPECT_EQ(v1.text.head_dim, 80);
  EXPECT_EQ(v1.text.rotary_dim, 32);  // int(0.4 * 80)
  EXPECT_EQ(v1.vision_layers_kept(), 26);
  EXPECT_EQ(v1.vision.num_patches(), 729);
  EXPECT_EQ(v1.text.eos_token_ids, std::vector<int64_t>{50295});
  auto qwen = ModelConfig::from_json(read_json_file(config_path("imp-v1.5-2b-qwen1.5")), "qwen");
  EXPECT_EQ(qwen.text.arch, Arch::qwen2);
  EXPECT_EQ(qwen.text.rope_theta, 1e6);
  EXPECT_EQ(*qwen.tokenizer_model_max_length, 2560);
  EXPECT_FALSE(qwen.text.sliding_window.has_value());  // use_sliding_window false
  auto phi3 = ModelConfig::from_json(read_json_file(config_path("imp-v1.5-4b-phi3")), "phi3");
  EXPECT_EQ(*phi3.text.sliding_window, 2047);
  EXPECT_EQ(phi3.image_aspect_ratio, "pad");
  EXPECT_EQ(phi3.vision.hidden_size, 1152);  // so400m defaults from mm_vision_tower's name
  auto phi2 = ModelConfig::from_json(read_json_file(config_path("imp-v1.5-3b-phi2")), "phi2");
  EXPECT_EQ(phi2.text.hidden_size, 2560);
}

TEST(TinyConfigs, BuildAndRunWithAnImage) {
  for (const std::string name : {"tiny-imp-phi2", "tiny-imp-qwen2", "tiny-imp-phi3"}) {
    torch::manual_seed(0);
    ImpModel model(ModelConfig::from_json(read_json_file(config_path(name)), name));
    model.root().eval();
    torch::NoGradGuard no_grad;
    ImpInputs in;
    in.input_ids = torch::randint(3, 500, {2, 12}, torch::kInt64);
    in.input_ids[0][1] = kImageTokenIndex;
    in.pixel_values = torch::randn({1, 3, 64, 64});
    in.labels = in.input_ids.clone();
    auto out = model.forward(in);
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 12 + 64 - 1, 512})) << name;
    EXPECT_TRUE(std::isfinite(out.loss.item<double>())) << name;
  }
}

}  // namespace
}  // namespace imp::test

namespace imp::test {
namespace {

TEST(Attention, SdpaMatchesEagerOnCpu) {
  if (!compat::kHasSdpa) GTEST_SKIP() << "LibTorch " << compat::torch_version() << " has no SDPA";
  for (const std::string name : {"imp_phi2", "imp_qwen2", "imp_phi3"}) {
    auto g = golden(name);
    ImpInputs in;
    in.input_ids = g.at("input_ids");
    in.attention_mask = g.at("attention_mask");
    in.pixel_values = g.at("pixel_values");
    LoadSpec spec;
    spec.attention = nn::AttentionImpl::sdpa;
    torch::NoGradGuard no_grad;
    auto out = ImpModel::from_pretrained(model_dir(name), spec)->forward(in);
    EXPECT_TRUE(check_close(out.logits, g.at("logits"), 1e-5, name + " sdpa",
                            g.at("spliced_attention_mask").unsqueeze(-1)));
  }
}

}  // namespace
}  // namespace imp::test
