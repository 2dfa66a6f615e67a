// imp quantize on the command line: flags, exit codes, a quantized model generating with imp generate,
// and training / merging / LoRA adapters refused on a quantized directory.
#include <gtest/gtest.h>

#include <filesystem>

#include "imp/core/json.h"
#include "run_imp.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

class QuantCli : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("imp_quant_cli_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string path(const std::string& rel) const { return (root_ / rel).string(); }
  fs::path root_;
};

TEST_F(QuantCli, QuantizesAndGenerates) {
  const auto q = run_imp("quantize --model " + model_dir("gen_qwen2") + " --output " + path("q4") + " --bits 4 --group-size 32");
  ASSERT_EQ(q.code, 0) << q.output;
  EXPECT_NE(q.output.find("to 4 bits"), std::string::npos) << q.output;
  EXPECT_TRUE(fs::exists(path("q4/tokenizer.json")));
  const auto g = run_imp("generate --model " + path("q4") + " --image " + data_path("eval/images/blue.png") +
                         " --prompt 'What is it?' --max-new-tokens 4 --device cpu");
  EXPECT_EQ(g.code, 0) << g.output;
  // decoder linears only: the embedding and the tower keep their full-precision tensors
  const auto d = run_imp("quantize --model " + model_dir("gen_qwen2") + " --output " + path("dec") +
                         " --bits 8 --embedding-bits 0 --no-vision");
  ASSERT_EQ(d.code, 0) << d.output;
  const auto modules = read_json_file(path("dec/config.json"))["quantization_config"]["modules"];
  EXPECT_EQ(modules, Json::array({"model.layers.*"})) << modules.dump();
}

TEST_F(QuantCli, BadFlagsAndInputsAreRefused) {
  EXPECT_EQ(run_imp("quantize --model " + model_dir("gen_qwen2") + " --output " + path("a") + " --bits 3").code, 2);
  const auto g = run_imp("quantize --model " + model_dir("gen_qwen2") + " --output " + path("a") + " --bits 4 --group-size -1");
  EXPECT_EQ(g.code, 2) << g.output;
  EXPECT_NE(g.output.find("group size -1"), std::string::npos) << g.output;
  EXPECT_EQ(run_imp("quantize --model " + model_dir("gen_qwen2") + " --output " + path("a") + " --embedding-bits 5").code, 2);
  EXPECT_EQ(run_imp("quantize --model " + path("nothing") + " --output " + path("a")).code, 4);
  EXPECT_FALSE(fs::exists(path("a")));
}

TEST_F(QuantCli, TrainingAndMergingRefuseQuantizedModels) {
  ASSERT_EQ(run_imp("quantize --model " + model_dir("gen_phi2") + " --output " + path("q8") + " --bits 8").code, 0);
  const auto t = run_imp("finetune-lora --model_name_or_path " + path("q8") + " --version phi2 --data_path " +
                         data_path("train/data.json") + " --image_folder " + data_path("train/images") +
                         " --output_dir " + path("out") + " --lora_r 4 --lora_alpha 8 --max_steps 1");
  EXPECT_EQ(t.code, 2) << t.output;
  EXPECT_NE(t.output.find("is a quantized model"), std::string::npos) << t.output;
  EXPECT_FALSE(fs::exists(path("out/adapter_model.safetensors")));
  const auto m = run_imp("merge --model-path " + model_dir("gen_phi2_lora") + " --model-base " + path("q8") +
                         " --save-model-path " + path("merged"));
  EXPECT_EQ(m.code, 2) << m.output;
  EXPECT_NE(m.output.find("is a quantized model"), std::string::npos) << m.output;
  const auto g = run_imp("generate --model " + path("q8") + " --lora " + model_dir("gen_phi2_lora") +
                         " --prompt hi --max-new-tokens 2 --device cpu");
  EXPECT_EQ(g.code, 2) << g.output;
  EXPECT_NE(g.output.find("a LoRA adapter"), std::string::npos) << g.output;
}

}  // namespace
}  // namespace imp::test
