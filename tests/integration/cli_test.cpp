// The imp executable end to end: forward on fixtures (plain, sharded, bf16, LoRA, torch.save, SigLIP-only),
// inspect, help texts and exit codes for bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/json.h"
#include "test_utils.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

class CliForward : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("imp_cli_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the golden's inputs, runs `imp forward`, returns the outputs.
  StateDict forward(const std::string& golden_name, const std::string& extra) {
    auto g = golden(golden_name);
    StateDict in;
    for (const char* k : {"input_ids", "attention_mask", "labels", "pixel_values"})
      if (g.count(k)) in.emplace(k, g.at(k));
    save_safetensors(dir_ + "/in.safetensors", in);
    auto r = run_imp("forward --inputs " + dir_ + "/in.safetensors --output " + dir_ + "/out.safetensors " + extra);
    EXPECT_EQ(r.code, 0) << r.output;
    return r.code == 0 ? load_safetensors(dir_ + "/out.safetensors") : StateDict{};
  }
  std::string dir_;
};

TEST_F(CliForward, ImpModelMatchesGolden) {
  auto g = golden("imp_qwen2");
  auto out = forward("imp_qwen2", "--model " + model_dir("imp_qwen2"));
  ASSERT_TRUE(out.count("logits"));
  EXPECT_TRUE(check_close(out.at("logits"), g.at("logits"), 1e-5, "logits"));
  EXPECT_TRUE(check_close(out.at("loss"), g.at("loss"), 1e-5, "loss"));
  EXPECT_TRUE(check_close(out.at("image_features"), g.at("image_features"), 1e-5, "image_features"));
  EXPECT_TRUE(check_close(out.at("image_embeds"), g.at("image_embeds"), 1e-5, "image_embeds"));
}

TEST_F(CliForward, ShardedDirectoryInBf16) {
  auto g = golden("qwen2");
  auto out = forward("qwen2", "--model " + model_dir("qwen2") + " --dtype bfloat16");
  ASSERT_TRUE(out.count("logits"));
  EXPECT_EQ(out.at("logits").scalar_type(), torch::kFloat32);
  EXPECT_TRUE(check_close(out.at("logits"), g.at("logits_bf16"), kBf16Tol, "bf16 logits"));
}

TEST_F(CliForward, LoraDirectoryUnmergedAndMerged) {
  auto g = golden("imp_phi2_lora");
  const std::string args = "--model " + model_dir("imp_phi2") + " --lora " + model_dir("imp_phi2_lora");
  auto out = forward("imp_phi2_lora", args);
  ASSERT_TRUE(out.count("logits"));
  EXPECT_TRUE(check_close(out.at("logits"), g.at("logits"), 1e-5, "lora logits"));
  auto merged = forward("imp_phi2_lora", args + " --merge-lora");
  ASSERT_TRUE(merged.count("logits"));
  EXPECT_TRUE(check_close(merged.at("logits"), g.at("logits"), 1e-5, "merged lora logits"));
}

// torch.save checkpoints (tests/data/pickle, scripts/make_pickle_fixtures.py) load like their safetensors twins:
// a transformers save_pretrained(safe_serialization=False) sharded directory, and a PEFT adapter directory with
// adapter_model.bin (legacy format) and non_lora_trainables.bin (zip).
TEST_F(CliForward, TorchSaveCheckpointsMatchGoldens) {
  auto g = golden("qwen2");
  auto out = forward("qwen2", "--model " + data_path("pickle/qwen2"));
  ASSERT_TRUE(out.count("logits"));
  EXPECT_TRUE(check_close(out.at("logits"), g.at("logits"), 1e-5, "pytorch_model.bin shards"));
  auto lg = golden("imp_phi2_lora");
  out = forward("imp_phi2_lora", "--model " + model_dir("imp_phi2") + " --lora " + data_path("pickle/imp_phi2_lora"));
  ASSERT_TRUE(out.count("logits"));
  EXPECT_TRUE(check_close(out.at("logits"), lg.at("logits"), 1e-5, "adapter_model.bin + non_lora_trainables.bin"));

  auto r = run_imp("inspect " + data_path("pickle/qwen2"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("pytorch_model-00006-of-00006.bin (torch.save zip)"), std::string::npos) << r.output;
  r = run_imp("inspect " + data_path("pickle/cases/refuse_os_system.pt"));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("refuses the pickle global 'posix.system'"), std::string::npos) << r.output;
}

// PEFT 0.11.1 adapters with full tensors besides LoRA (scripts/make_interop_fixtures.py) on plain decoders:
// imp forward --lora (unmerged and merged) and imp merge give PEFT's logits; the merged directory says
// tie_word_embeddings false exactly when its lm_head is no longer the tied embedding.
class CliPeftAdapter : public CliForward, public ::testing::WithParamInterface<std::string> {};

TEST_P(CliPeftAdapter, ForwardAndMergeGivePeftLogits) {
  const std::string name = "lora_" + GetParam();
  auto g = golden(name);
  const std::string base = adapter_base_dir(name);
  const std::string args = "--model " + base + " --lora " + model_dir(name);
  for (const std::string extra : {"", " --merge-lora"}) {
    auto out = forward(name, args + extra);
    ASSERT_TRUE(out.count("logits"));
    EXPECT_TRUE(check_close(out.at("logits"), g.at("logits"), 1e-5, name + extra + " logits"));
  }
  const std::string merged = dir_ + "/merged";
  auto r = run_imp("merge --model-path " + model_dir(name) + " --model-base " + base + " --save-model-path " + merged);
  ASSERT_EQ(r.code, 0) << r.output;
  const bool tie = g.at("merged.tie_word_embeddings").item<int64_t>() == 1;
  EXPECT_EQ(read_json_file(merged + "/config.json").value("tie_word_embeddings", false), tie);
  const bool base_tied = read_json_file(base + "/config.json").value("tie_word_embeddings", false);
  EXPECT_EQ(load_model_dir(merged).count("lm_head.weight") == 1, !tie || !base_tied);
  auto out = forward(name, "--model " + merged);
  ASSERT_TRUE(out.count("logits"));
  EXPECT_TRUE(check_close(out.at("logits"), g.at("logits"), 1e-5, name + " imp merge logits"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliPeftAdapter,
                         ::testing::Values("phi2_embed", "phi2_bias_all", "phi2_modules_to_save", "tied_qwen2",
                                           "tied_qwen2_modules_to_save"));

// save_embedding_layers tensors normally equal the base; one that differs replaces it with a warning.
TEST_F(CliForward, AdapterEmbeddingLayerThatDiffersIsWarnedAbout) {
  auto g = golden("lora_phi2_embed");
  save_safetensors(dir_ + "/in.safetensors", {{"input_ids", g.at("input_ids")}});
  auto r = run_imp("forward --model " + model_dir("phi2") + " --lora " + model_dir("lora_phi2_embed") + " --inputs " +
                   dir_ + "/in.safetensors --output " + dir_ + "/out.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: " + model_dir("lora_phi2_embed") +
                          "/adapter_model.safetensors: 'base_model.model.lm_head.base_layer.bias' differs from the "
                          "base model's lm_head.bias"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("lm_head.base_layer.weight' differs"), std::string::npos) << r.output;
}

TEST_F(CliForward, SiglipDirectoryGivesImageFeatures) {
  auto g = golden("siglip");
  save_safetensors(dir_ + "/px.safetensors", {{"pixel_values", g.at("pixel_values")}});
  auto r = run_imp("forward --model " + model_dir("siglip") + " --inputs " + dir_ + "/px.safetensors --output " +
                   dir_ + "/o.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(check_close(load_safetensors(dir_ + "/o.safetensors").at("image_features"), g.at("image_features"),
                          1e-5, "siglip features"));
}

TEST_F(CliForward, BadInputsFailWithClearMessages) {
  save_safetensors(dir_ + "/typo.safetensors", {{"input_id", torch::zeros({1, 4}, torch::kInt64)}});
  auto r = run_imp("forward --model " + model_dir("phi2") + " --inputs " + dir_ + "/typo.safetensors --output " +
                   dir_ + "/o.safetensors");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("unknown input tensor 'input_id'"), std::string::npos) << r.output;

  save_safetensors(dir_ + "/big.safetensors", {{"input_ids", torch::full({1, 4}, 5000, torch::kInt64)}});
  r = run_imp("forward --model " + model_dir("phi2") + " --inputs " + dir_ + "/big.safetensors --output " + dir_ +
              "/o.safetensors");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("outside the vocabulary"), std::string::npos) << r.output;

  r = run_imp("forward --model " + dir_ + "/nope --inputs " + dir_ + "/big.safetensors --output " + dir_ + "/o.st");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;

  r = run_imp("forward --model " + model_dir("phi2") + " --dtype float64 --inputs x --output y");
  EXPECT_EQ(r.code, 2) << r.output;
  bool cpu_fp16 = true;
  try {
    check_dtype_supported(torch::kFloat16, torch::kCPU);
  } catch (const Error&) {
    cpu_fp16 = false;
  }
  if (!cpu_fp16) {  // LibTorch 1.13 has no fp16 CPU kernels: a usage error naming the dtype
    r = run_imp("forward --model " + model_dir("phi2") + " --dtype float16 --inputs x --output y");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("float16"), std::string::npos) << r.output;
  }
  r = run_imp("forwrd");
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(Cli, HelpAndInspect) {
  auto r = run_imp("forward --help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"input_ids", "pixel_values", "image_embeds", "--lora", "--dtype"})
    EXPECT_NE(r.output.find(s), std::string::npos) << s;
  r = run_imp("inspect " + model_dir("imp_phi3"));
  EXPECT_EQ(r.code, 0) << r.output;
  for (const char* s : {"model_type imp_phi3", "sliding_window 6", "vision tower", "projector", "model.safetensors"})
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  r = run_imp("inspect " + model_dir("qwen2"));
  EXPECT_NE(r.output.find("model-00006-of-00006.safetensors"), std::string::npos) << r.output;
  r = run_imp("inspect " + model_dir("imp_phi2_lora"));
  EXPECT_NE(r.output.find("PEFT adapter"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("LoRA adapter"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace imp::test
