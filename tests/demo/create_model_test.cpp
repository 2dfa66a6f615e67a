// imp create-model: the written directories load back, the init follows HF, the seed fixes the bytes;
// and the demo's files work with the rest of imp (imp data check on demo-data output, demo-score CLI).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "imp/core/error.h"
#include "imp/core/json.h"
#include "imp/demo/create_model.h"
#include "imp/demo/tower_design.h"
#include "imp/models/imp_model.h"
#include "test_utils.h"

namespace imp::demo {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string repo_path(const std::string& rel) { return (fs::path(IMP_TEST_DATA) / ".." / ".." / rel).string(); }

struct Run {
  int code;
  std::string output;
};

Run run_imp(const std::string& args) {
  const std::string cmd = std::string(IMP_BINARY) + " " + args + " 2>&1";
  Run r{0, ""};
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class CreateModel : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("imp_create_model_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string make(const std::string& name, const std::string& config, uint64_t seed, const std::string& tokenizer = "",
                   const std::string& tower = "", const std::string& dtype = "float32") {
    CreateModelOptions o;
    o.config = repo_path("configs/models/" + config);
    o.output = (root_ / name).string();
    o.seed = seed;
    o.tokenizer = tokenizer;
    o.vision_tower = tower;
    o.dtype = dtype;
    create_model(o);
    return o.output;
  }
  fs::path root_;
};

TEST_F(CreateModel, DecoderLoadsBackWithHfInit) {
  const std::string dir = make("phi2", "demo-phi2.json", 1, test::data_path("tokenizers/phi2"));
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "vocab.json"})
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
  const Json gen = read_json_file(dir + "/generation_config.json");
  EXPECT_EQ(gen["eos_token_id"], 2300);
  const Json cfg = read_json_file(dir + "/config.json");
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_EQ(cfg["architectures"][0], "PhiForCausalLM");

  auto model = ImpModel::from_pretrained(dir);
  ASSERT_EQ(model->config().kind, ModelKind::text);
  const StateDict sd = load_model_dir(dir);
  for (const auto& [name, t] : sd) {
    if (name.size() > 5 && name.substr(name.size() - 5) == ".bias") {
      EXPECT_EQ(t.abs().max().item<float>(), 0.0f) << name;
    } else if (t.dim() == 1) {
      EXPECT_TRUE(t.eq(1.0f).all().item<bool>()) << name;
    } else if (t.numel() > 10000) {
      const double std = cfg["initializer_range"].get<double>();  // the config's (0.15 for the demo)
      EXPECT_NEAR(t.std().item<double>(), std, 0.05 * std) << name;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.05 * std) << name;
    }
  }
  // The model runs: ids of the demo's text through the copied tokenizer's range.
  ImpInputs in;
  in.input_ids = torch::tensor({{64, 286, 67, 284, 923, 2339}}, torch::kInt64);
  in.labels = in.input_ids.clone();
  const auto out = model->forward(in);
  EXPECT_EQ(out.logits.size(2), 2368);
  // Random init: no better than a uniform guess (ln vocab); the demo's wide init (0.15) adds ~2 nats.
  EXPECT_GT(out.loss.item<double>(), std::log(2368.0) - 0.5);
  EXPECT_LT(out.loss.item<double>(), std::log(2368.0) + 4.0);
}

TEST_F(CreateModel, SameSeedSameBytes) {
  const std::string a = make("a", "demo-phi2.json", 7), b = make("b", "demo-phi2.json", 7), c = make("c", "demo-phi2.json", 8);
  EXPECT_EQ(slurp(a + "/model.safetensors"), slurp(b + "/model.safetensors"));
  EXPECT_EQ(slurp(a + "/config.json"), slurp(b + "/config.json"));
  EXPECT_NE(slurp(a + "/model.safetensors"), slurp(c + "/model.safetensors"));
  const std::string s1 = make("s1", "demo-siglip.json", 7), s2 = make("s2", "demo-siglip.json", 7);
  EXPECT_EQ(slurp(s1 + "/model.safetensors"), slurp(s2 + "/model.safetensors"));
}

TEST_F(CreateModel, SiglipKeepsEveryLayer) {
  const std::string dir = make("siglip", "demo-siglip.json", 0);
  EXPECT_TRUE(fs::exists(dir + "/preprocessor_config.json"));
  const StateDict sd = load_model_dir(dir);
  EXPECT_TRUE(sd.count("vision_model.encoder.layers.2.mlp.fc1.weight"));  // all 3 layers on disk
  auto model = ImpModel::from_pretrained(dir);                             // Imp keeps 2 of them
  ASSERT_EQ(model->config().kind, ModelKind::vision);
  ImpInputs in;
  in.pixel_values = torch::randn({2, 3, 64, 64});
  const auto out = model->forward(in);
  EXPECT_EQ(out.image_features.sizes(), torch::IntArrayRef({2, 64, 128}));
}

// --vision-tower: the Imp starting point, decoder weights identical to the plain decoder of that seed.
TEST_F(CreateModel, ImpModelFromDecoderAndTower) {
  const std::string tower = make("siglip", "demo-siglip.json", 3);
  const std::string dec = make("phi2", "demo-phi2.json", 3, test::data_path("tokenizers/phi2"));
  const std::string imp = make("imp", "demo-phi2.json", 3, test::data_path("tokenizers/phi2"), tower);
  const Json cfg = read_json_file(imp + "/config.json");
  EXPECT_EQ(cfg["model_type"], "imp");
  EXPECT_EQ(cfg["mm_hidden_size"], 128);
  EXPECT_EQ(cfg["mm_projector_type"], "mlp2x_gelu");
  EXPECT_EQ(cfg["architectures"][0], "ImpForCausalLM");
  const StateDict a = load_model_dir(dec), b = load_model_dir(imp);
  size_t shared = 0;
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
    ++shared;
  }
  EXPECT_EQ(b.size(), shared + 4);  // + mm_projector.{0,2}.{weight,bias}
  EXPECT_TRUE(b.count("model.mm_projector.0.weight"));
  for (const auto& [name, t] : b) EXPECT_NE(name.rfind("model.vision_tower.", 0), 0u) << name;

  auto model = ImpModel::from_pretrained(imp);  // the tower comes from the SigLIP directory
  ASSERT_EQ(model->config().kind, ModelKind::multimodal);
  const StateDict tower_sd = load_model_dir(tower);
  EXPECT_TRUE(torch::equal(model->vision->named_parameters()["vision_model.embeddings.patch_embedding.weight"],
                           tower_sd.at("vision_model.embeddings.patch_embedding.weight")));
  ImpInputs in;
  in.input_ids = torch::tensor({{64, -200, 286, 67}}, torch::kInt64);
  in.pixel_values = torch::randn({1, 3, 64, 64});
  EXPECT_EQ(model->forward(in).logits.size(1), 3 + 64);
}

// --tower-init designed (demo/tower_design.h): orientation energies at an edge, and the image's means of energies,
// saturation and colour in every token.
TEST_F(CreateModel, DesignedTowerSeesEdgesAndSummarisesTheImage) {
  CreateModelOptions o;
  o.config = repo_path("configs/models/demo-siglip.json");
  o.output = (root_ / "designed").string();
  o.tower_init = "designed";
  create_model(o);
  auto model = ImpModel::from_pretrained(o.output);
  // Light grey (0.8 after the processor's [-1, 1] scaling), then red left of x = 36 and red above y = 36 (both
  // lines cut through a patch: a patch-aligned edge would have no gradient inside any patch).
  const auto red = torch::tensor({1.0f, -0.7f, -0.7f}).view({3, 1, 1});
  auto px = torch::full({3, 3, 64, 64}, 0.8f);
  px[1].slice(2, 0, 36).copy_(red.expand({3, 64, 36}));
  px[2].slice(1, 0, 36).copy_(red.expand({3, 36, 64}));
  ImpInputs in;
  in.pixel_values = px;
  torch::NoGradGuard no_grad;
  const auto f = model->forward(in).image_features;  // [3, 64 tokens, hidden]
  const DemoTowerLayout lay;
  const auto pooled = f.slice(2, lay.pooled, lay.end);
  EXPECT_LT((pooled - pooled.slice(1, 0, 1)).abs().max().item<float>(), 1e-4f) << "pooled channels differ";
  const auto energies = pooled.select(1, 0).slice(1, 0, DemoTowerLayout::orientations);  // [3 images, 6]
  const auto saturation = pooled.select(1, 0).select(1, DemoTowerLayout::orientations);
  EXPECT_LT(energies[0].abs().max().item<float>(), 1e-3f) << energies[0];  // flat grey: no edges
  EXPECT_LT(saturation[0].abs().item<float>(), 1e-3f);
  EXPECT_GT(saturation[1].item<float>(), 0.1f);
  const auto e_vertical = energies[1], e_horizontal = energies[2];  // orientation 0: along x, 3: along y
  EXPECT_GT(e_vertical[0].item<float>(), 3 * e_vertical[3].item<float>() + 0.1f) << e_vertical;
  EXPECT_GT(e_horizontal[3].item<float>(), 3 * e_horizontal[0].item<float>() + 0.1f) << e_horizontal;
  // The edge's own tokens: column 4 (x 32..39) of the vertical edge has energy at orientation 0, column 0 none.
  const auto local = f[1].slice(1, lay.energy, lay.energy + 1).view({8, 8});
  EXPECT_GT(local.select(1, 4).min().item<float>(), 0.1f) << local;
  EXPECT_LT(local.select(1, 0).abs().max().item<float>(), 1e-3f) << local;

  o.config = repo_path("configs/models/demo-phi2.json");  // a decoder config
  o.output = (root_ / "designed_decoder").string();
  try {
    create_model(o);
    ADD_FAILURE() << "designed a decoder";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("--tower-init"), std::string::npos) << e.what();
  }
}

TEST_F(CreateModel, WholeImpConfigAndBf16) {
  const std::string dir = make("tiny", "tiny-imp-phi2.json", 0, "", "", "bfloat16");
  const StateDict sd = load_model_dir(dir);
  for (const auto& [name, t] : sd) EXPECT_EQ(t.scalar_type(), torch::kBFloat16) << name;
  const auto& embed = sd.at("model.embed_tokens.weight");  // pad_token_id 0: HF zeroes the padding row
  EXPECT_EQ(embed[0].abs().max().item<float>(), 0.0f);
  EXPECT_GT(embed[1].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(read_json_file(dir + "/config.json")["torch_dtype"], "bfloat16");
  auto model = ImpModel::from_pretrained(dir);
  EXPECT_EQ(model->config().kind, ModelKind::multimodal);
}

TEST_F(CreateModel, Refusals) {
  CreateModelOptions o;
  o.config = repo_path("configs/models/demo-phi2.json");
  o.output = (root_ / "x").string();
  create_model(o);
  try {  // an existing model directory needs --force
    create_model(o);
    ADD_FAILURE() << "overwrote without --force";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
  }
  o.force = true;
  EXPECT_NO_THROW(create_model(o));
  // A vocabulary smaller than tokenizer + Imp's "</s>" (2339 + 1).
  Json small = read_json_file(o.config);
  small["vocab_size"] = 2339;
  write_json_file((root_ / "small.json").string(), small);
  o.config = (root_ / "small.json").string();
  o.output = (root_ / "small").string();
  o.tokenizer = test::data_path("tokenizers/phi2");
  try {
    create_model(o);
    ADD_FAILURE() << "accepted a vocabulary the tokenizer does not fit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size"), std::string::npos) << e.what();
  }
  o.config = repo_path("configs/models/demo-siglip.json");
  o.output = (root_ / "tower").string();
  EXPECT_THROW(create_model(o), Error);  // --tokenizer with a vision tower
  o.tokenizer.clear();
  o.vision_tower = (root_ / "x").string();
  EXPECT_THROW(create_model(o), Error);  // --vision-tower with a tower config
}

TEST_F(CreateModel, Cli) {
  const std::string out = (root_ / "cli").string();
  auto r = run_imp("create-model --config " + repo_path("configs/models/demo-siglip.json") + " --output " + out +
                   " --seed 4");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("64 patches"), std::string::npos) << r.output;
  r = run_imp("create-model --config " + repo_path("configs/models/demo-siglip.json") + " --output " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
}

#ifdef IMP_WITH_OPENCV
// The generated dataset passes imp's own training-data check with the demo tokenizer (stage 1 with the
// plain template, stage 2 with phi2), and the scorer reads its ground truth.
TEST_F(CreateModel, DemoDataIsTrainable) {
  const std::string data = (root_ / "data").string();
  auto r = run_imp("demo-data --out " + data + " --train 60 --eval 12 --seed 2");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string tok = test::data_path("tokenizers/phi2");
  for (const auto& [file, version] : {std::pair{"pretrain.json", "plain"}, std::pair{"finetune.json", "phi2"}}) {
    r = run_imp("data check --data_path " + data + "/" + file + " --image_folder " + data + "/images --tokenizer " + tok +
                " --version " + version + " --image_size 64 --model_max_length 512 --max_bad_fraction 0 "
                "--max_masked_fraction 0");
    EXPECT_EQ(r.code, 0) << file << ": " << r.output;
  }
  // Scoring the ground truth against itself: 100% everywhere, chance from categories.json.
  std::ofstream(root_ / "perfect.jsonl") << [&] {
    std::ifstream gt(data + "/eval/answers_gt.jsonl");
    std::stringstream s;
    std::string line;
    while (std::getline(gt, line)) {
      Json j = parse_json(line, "gt");
      s << Json{{"question_id", j["question_id"]}, {"text", j["answer"]}}.dump() << "\n";
    }
    return s.str();
  }();
  r = run_imp("demo-score --answers " + (root_ / "perfect.jsonl").string() + " --gt " + data +
              "/eval/answers_gt.jsonl --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const Json j = parse_json(r.output, "demo-score output");
  EXPECT_DOUBLE_EQ(j["overall"]["accuracy"].get<double>(), 1.0);
  EXPECT_NEAR(j["categories"]["shape"]["chance"].get<double>(), 0.25, 1e-12);
  r = run_imp("demo-score --answers " + (root_ / "perfect.jsonl").string() + " --label after --gt " + data +
              "/eval/answers_gt.jsonl");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("100.0%"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("16.7%"), std::string::npos) << r.output;  // colour chance
}
#endif

}  // namespace
}  // namespace imp::demo
