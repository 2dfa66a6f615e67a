// Issue #17 end to end: `imp inspect`, `forward`, `tokenize`, `eval`, `merge` and training on model
// directories and files where one JSON file is nested 100,000 levels deep (objects and arrays) exit
// with code 3 and a message naming the file and the limit; none crashes. Torch-free: the fixtures are
// overlaid (symlinks to every file but the hostile one) and imp runs as a child process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "imp/core/sha256.h"
#include "imp/io/safetensors.h"
#include "json_deep.h"
#include "run_imp.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

// What one case runs: `args(dir, deep)` writes what it needs under the scratch dir and returns the
// imp command line; the error must name `file` (a path suffix) and the limit of `kind`.
struct Case {
  const char* name;
  std::function<std::string(const std::string& dir, const std::string& deep)> args;
  const char* file;
  const char* kind;
  int depth = 64;
};

// A copy of fixture directory `from` at `to`: symlinks to its files, except `file`, written as `text`.
std::string overlay(const std::string& from, const std::string& to, const std::string& file, const std::string& text) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from))
    if (e.path().filename() != file) fs::create_symlink(fs::absolute(e.path()), fs::path(to) / e.path().filename());
  write_text(to + "/" + file, text);
  return to;
}

// A tiny input file for `imp forward`: input_ids [1,4].
std::string forward_inputs(const std::string& dir) {
  static const int64_t ids[4] = {1, 2, 3, 4};
  const std::string p = dir + "/in.safetensors";
  st::write_file(p, {{"input_ids", st::DType::I64, {1, 4}, ids, sizeof ids}});
  return p;
}

// A safetensors file whose header is the deep JSON under one tensor name.
std::string deep_safetensors(const std::string& dir, const std::string& deep) {
  const std::string header = "{\"t\":" + deep + "}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  write_text(dir + "/deep.safetensors", bytes + header);
  return dir + "/deep.safetensors";
}

// A committed checkpoint-1 whose manifest lists `files` (name -> contents) with their sizes and hashes.
std::string checkpoint(const std::string& dir, const std::map<std::string, std::string>& files,
                       const std::string* manifest = nullptr) {
  const std::string c = dir + "/out/checkpoint-1";
  fs::create_directories(c);
  std::string listed;
  for (const auto& [name, text] : files) {
    write_text(c + "/" + name, text);
    listed += (listed.empty() ? "" : ",") + ("\"" + name + "\":{\"size\":" + std::to_string(text.size()) +
                                             ",\"sha256\":\"" + sha256_hex(text) + "\"}");
  }
  write_text(c + "/manifest.json", manifest ? *manifest : "{\"step\":1,\"files\":{" + listed + "}}");
  write_text(c + "/COMMITTED", "");
  return c;
}

std::string eval_args(const std::string& dir, const std::string& model, const std::string& questions) {
  return "eval --model-path " + model + " --question-file " + questions + " --image-folder " +
         data_path("eval/images") + " --answers-file " + dir + "/answers.jsonl --temperature 0 --max-new-tokens 2";
}

std::string train_args(const std::string& dir, const std::string& model, const std::string& extra = "") {
  return "finetune-lora --model_name_or_path " + model + " --version phi2 --data_path " + data_path("train/data.json") +
         " --image_folder " + data_path("train/images") + " --output_dir " + dir + "/out --lora_r 4 --lora_alpha 8"
         " --per_device_train_batch_size 2 --model_max_length 128 --max_steps 1 --num_threads 1 " + extra;
}

std::vector<Case> cases() {
  return {
      // imp inspect
      {"inspect_config", [](auto d, auto j) { return "inspect " + overlay(model_dir("imp_phi2"), d + "/m", "config.json", j); },
       "/m/config.json", "config.json"},
      {"inspect_index",
       [](auto d, auto j) { return "inspect " + overlay(model_dir("qwen2"), d + "/m", "model.safetensors.index.json", j); },
       "/m/model.safetensors.index.json", "safetensors index", 16},
      {"inspect_adapter",
       [](auto d, auto j) { return "inspect " + overlay(model_dir("imp_phi2_lora"), d + "/a", "adapter_config.json", j); },
       "/a/adapter_config.json", "adapter_config.json"},
      {"inspect_safetensors_header", [](auto d, auto j) { return "inspect " + deep_safetensors(d, j); },
       "/deep.safetensors", "safetensors header"},
      // imp forward
      {"forward_config",
       [](auto d, auto j) {
         return "forward --model " + overlay(model_dir("imp_phi2"), d + "/m", "config.json", j) + " --inputs " +
                forward_inputs(d) + " --output " + d + "/o.safetensors";
       },
       "/m/config.json", "config.json"},
      {"forward_lora_adapter",
       [](auto d, auto j) {
         return "forward --model " + model_dir("imp_phi2") + " --lora " +
                overlay(model_dir("imp_phi2_lora"), d + "/a", "adapter_config.json", j) + " --inputs " +
                forward_inputs(d) + " --output " + d + "/o.safetensors";
       },
       "/a/adapter_config.json", "adapter_config.json"},
      {"forward_inputs_header",
       [](auto d, auto j) {
         return "forward --model " + model_dir("imp_phi2") + " --inputs " + deep_safetensors(d, j) + " --output " + d +
                "/o.safetensors";
       },
       "/deep.safetensors", "safetensors header"},
      // imp tokenize
      {"tokenize_tokenizer_json",
       [](auto d, auto j) {
         return "tokenize --tokenizer " + overlay(data_path("tokenizers/qwen2"), d + "/t", "tokenizer.json", j) +
                " </dev/null";
       },
       "/t/tokenizer.json", "tokenizer.json"},
      {"tokenize_tokenizer_config",
       [](auto d, auto j) {
         return "tokenize --tokenizer " + overlay(data_path("tokenizers/qwen2"), d + "/t", "tokenizer_config.json", j) +
                " </dev/null";
       },
       "/t/tokenizer_config.json", "tokenizer_config.json"},
      {"tokenize_special_tokens_map",
       [](auto d, auto j) {
         return "tokenize --tokenizer " + overlay(data_path("tokenizers/phi3"), d + "/t", "special_tokens_map.json", j) +
                " </dev/null";
       },
       "/t/special_tokens_map.json", "special_tokens_map.json"},
      {"tokenize_added_tokens",
       [](auto d, auto j) {
         return "tokenize --tokenizer " + overlay(data_path("tokenizers/qwen2_slow"), d + "/t", "added_tokens.json", j) +
                " </dev/null";
       },
       "/t/added_tokens.json", "added_tokens.json"},
      {"tokenize_vocab",
       [](auto d, auto j) {
         return "tokenize --tokenizer " + overlay(data_path("tokenizers/qwen2_slow"), d + "/t", "vocab.json", j) +
                " </dev/null";
       },
       "/t/vocab.json", "vocab.json"},
      {"tokenize_stdin_line",
       [](auto d, auto j) {
         write_text(d + "/in.jsonl", "\"ok\"\n" + j + "\n");
         return "tokenize --tokenizer " + data_path("tokenizers/qwen2") + " <" + d + "/in.jsonl";
       },
       "stdin line 2", "JSON input"},
      // imp eval
      {"eval_question_jsonl",
       [](auto d, auto j) {
         write_text(d + "/q.jsonl", j + "\n");
         return eval_args(d, model_dir("gen_phi2"), d + "/q.jsonl");
       },
       "/q.jsonl:1", "question/answer file"},
      {"eval_question_json",
       [](auto d, auto j) {
         write_text(d + "/q.json", j);
         return eval_args(d, model_dir("gen_phi2"), d + "/q.json");
       },
       "/q.json", "question/answer file"},
      {"eval_config",
       [](auto d, auto j) {
         return eval_args(d, overlay(model_dir("gen_phi2"), d + "/m", "config.json", j), data_path("eval/questions.jsonl"));
       },
       "/m/config.json", "config.json"},
      {"eval_generation_config",
       [](auto d, auto j) {
         return eval_args(d, overlay(model_dir("gen_phi2"), d + "/m", "generation_config.json", j),
                          data_path("eval/questions.jsonl"));
       },
       "/m/generation_config.json", "generation_config.json"},
      {"eval_tokenizer_config",
       [](auto d, auto j) {
         return eval_args(d, overlay(model_dir("gen_phi2"), d + "/m", "tokenizer_config.json", j),
                          data_path("eval/questions.jsonl"));
       },
       "/m/tokenizer_config.json", "tokenizer_config.json"},
      {"eval_lora_adapter",
       [](auto d, auto j) {
         return eval_args(d, overlay(model_dir("gen_phi2_lora"), d + "/a", "adapter_config.json", j),
                          data_path("eval/questions.jsonl")) +
                " --model-base " + model_dir("gen_phi2");
       },
       "/a/adapter_config.json", "adapter_config.json"},
      // imp merge
      {"merge_adapter",
       [](auto d, auto j) {
         return "merge --model-path " + overlay(model_dir("imp_phi2_lora"), d + "/a", "adapter_config.json", j) +
                " --model-base " + model_dir("imp_phi2") + " --save-model-path " + d + "/merged";
       },
       "/a/adapter_config.json", "adapter_config.json"},
      // training
      {"train_config", [](auto d, auto j) { return train_args(d, overlay(model_dir("train_phi2"), d + "/m", "config.json", j)); },
       "/m/config.json", "config.json"},
      {"train_tokenizer",
       [](auto d, auto j) { return train_args(d, overlay(model_dir("train_phi2"), d + "/m", "tokenizer.json", j)); },
       "/m/tokenizer.json", "tokenizer.json"},
      {"train_vision_tower",
       [](auto d, auto j) {
         // a decoder-only base: the tower's config.json is read to assemble the Imp model
         return train_args(d, model_dir("phi2"), "--tokenizer " + model_dir("train_phi2") + " --vision_tower " +
                                                     overlay(model_dir("siglip"), d + "/v", "config.json", j));
       },
       "/v/config.json", "config.json"},
      {"train_lora_weights",
       [](auto d, auto j) {
         return train_args(d, model_dir("train_phi2"),
                           "--lora_weight_path " + overlay(data_path("train/lora_init"), d + "/a", "adapter_config.json", j));
       },
       "/a/adapter_config.json", "adapter_config.json"},
      {"train_flags_config",
       [](auto d, auto j) {
         write_text(d + "/args.json", j);
         return train_args(d, model_dir("train_phi2"), "--config " + d + "/args.json");
       },
       "/args.json", "training config (--config)"},
      {"train_deepspeed",
       [](auto d, auto j) {
         write_text(d + "/zero3.json", j);
         return train_args(d, model_dir("train_phi2"), "--deepspeed " + d + "/zero3.json");
       },
       "/zero3.json", "DeepSpeed config (--deepspeed)"},
      {"train_data_record",
       [](auto d, auto j) {
         write_text(d + "/data.json", "[" + j + "]");
         return train_args(d, model_dir("train_phi2")) + " --data_path " + d + "/data.json";
       },
       "/data.json record 0", "dataset record", 16},
      {"train_resume_manifest",
       [](auto d, auto j) {
         return train_args(d, model_dir("train_phi2"), "--resume_from_checkpoint " + checkpoint(d, {}, &j));
       },
       "/checkpoint-1/manifest.json", "checkpoint manifest.json"},
      {"train_resume_trainer_state",
       [](auto d, auto j) {
         return train_args(d, model_dir("train_phi2"),
                           "--resume_from_checkpoint " + checkpoint(d, {{"trainer_state.json", j}}));
       },
       "/checkpoint-1/trainer_state.json", "trainer_state.json"},
  };
}

struct Param {
  Case c;
  bool objects;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.c.name << (p.objects ? " objects" : " arrays"); }

class DeepJson : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("imp_deep_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_P(DeepJson, ExitsThreeNamingTheFileAndLimit) {
  const Case& c = GetParam().c;
  const test::Run r = run_imp(c.args(dir_, deep_json(GetParam().objects)));
  EXPECT_EQ(r.code, 3) << r.output;
  const std::string msg = std::string(c.file) + ": JSON nested deeper than " + std::to_string(c.depth) + " levels";
  EXPECT_NE(r.output.find(msg), std::string::npos) << "expected '" << msg << "' in:\n" << r.output;
  EXPECT_NE(r.output.find(std::string("the limit for ") + c.kind), std::string::npos) << r.output;
}

std::vector<Param> params() {
  std::vector<Param> out;
  for (const Case& c : cases())
    for (bool objects : {true, false}) out.push_back({c, objects});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Issue17, DeepJson, testing::ValuesIn(params()), [](const testing::TestParamInfo<Param>& i) {
  return std::string(i.param.c.name) + (i.param.objects ? "_objects" : "_arrays");
});

}  // namespace
}  // namespace imp::test
