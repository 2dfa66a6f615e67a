// imp demo-data's writer: layout, determinism, held-out evaluation images, drawing (OpenCV builds only).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "imp/core/error.h"
#include "imp/demo/demo_data.h"
#include "imp/demo/questions.h"
#include "imp/demo/render.h"

namespace imp::demo {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<json> jsonl(const fs::path& p) {
  std::vector<json> out;
  std::istringstream in(slurp(p));
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

class DemoData : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("imp_demo_data_" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  DemoDataSummary make(const std::string& name, uint64_t seed, int64_t train = 120, int64_t eval = 40) {
    DemoDataOptions o;
    o.out = (root_ / name).string();
    o.seed = seed;
    o.train = train;
    o.eval = eval;
    return generate_demo_data(o);
  }
  fs::path root_;
};

TEST_F(DemoData, LayoutAndContents) {
  const auto sum = make("a", 1);
  const fs::path d = root_ / "a";
  const json pretrain = json::parse(slurp(d / "pretrain.json"));
  const json finetune = json::parse(slurp(d / "finetune.json"));
  ASSERT_EQ(finetune.size(), 120u);
  ASSERT_EQ(static_cast<int64_t>(pretrain.size()), sum.train_images);
  EXPECT_GT(sum.train_images, 90);  // ~93% of conversations have an image
  std::set<std::string> train_images;
  for (const auto& r : pretrain) {
    ASSERT_EQ(r["conversations"].size(), 2u);
    EXPECT_EQ(r["conversations"][0]["from"], "human");
    EXPECT_EQ(r["conversations"][0]["value"], "<image>\n");
    EXPECT_EQ(r["conversations"][1]["from"], "gpt");
    const std::string caption = r["conversations"][1]["value"];
    EXPECT_TRUE(caption.rfind("a ", 0) == 0 || caption.rfind("an ", 0) == 0) << caption;
    const std::string image = r["image"];
    EXPECT_TRUE(fs::exists(d / "images" / image)) << image;
    train_images.insert(image);
  }
  int text_only = 0, multi = 0;
  for (const auto& r : finetune) {
    const auto& conv = r["conversations"];
    ASSERT_EQ(conv.size() % 2, 0u);
    for (size_t t = 0; t < conv.size(); ++t) EXPECT_EQ(conv[t]["from"], t % 2 ? "gpt" : "human");
    const std::string first = conv[0]["value"];
    if (r.contains("image")) {
      EXPECT_EQ(first.rfind("<image>\n", 0), 0u);
      EXPECT_TRUE(train_images.count(r["image"]));
    } else {
      ++text_only;
      EXPECT_EQ(first.find("<image>"), std::string::npos);
    }
    if (conv.size() > 2) ++multi;
  }
  EXPECT_GT(text_only, 0);
  EXPECT_GT(multi, 0);

  const auto questions = jsonl(d / "eval" / "questions.jsonl");
  const auto answers = jsonl(d / "eval" / "answers_gt.jsonl");
  ASSERT_EQ(questions.size(), 40u);
  ASSERT_EQ(answers.size(), 40u);
  std::map<std::string, int> per_cat;
  for (size_t i = 0; i < questions.size(); ++i) {
    const auto& q = questions[i];
    EXPECT_EQ(q["question_id"], answers[i]["question_id"]);
    EXPECT_EQ(q["category"], answers[i]["category"]);
    const std::string text = q["text"];
    EXPECT_NE(text.find(kAnswerSuffix), std::string::npos);
    EXPECT_EQ(text.find("<image>"), std::string::npos);  // the loader adds it, as model_vqa_loader does
    const std::string image = q["image"];
    EXPECT_TRUE(fs::exists(d / "images" / image));
    EXPECT_FALSE(train_images.count(image)) << "evaluation image " << image << " is a training image";
    ++per_cat[q["category"]];
  }
  for (const auto& c : eval_categories()) EXPECT_EQ(per_cat[c.name], 10) << c.name;
  const json cats = json::parse(slurp(d / "eval" / "categories.json"));
  ASSERT_EQ(cats.size(), eval_categories().size());
  EXPECT_EQ(cats[0]["category"], "colour");
  EXPECT_NEAR(cats[0]["chance"].get<double>(), 1.0 / 6, 1e-12);
  EXPECT_EQ(json::parse(slurp(d / "dataset_info.json"))["seed"], 1);
  // PNG files of the requested size.
  const std::string png = slurp(d / "images" / questions[0]["image"].get<std::string>());
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  const auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_EQ(be32(16), 64u);
  EXPECT_EQ(be32(20), 64u);
}

TEST_F(DemoData, SameSeedSameBytes) {
  make("a", 5);
  make("b", 5);
  make("c", 6);
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(root_ / "a")) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), root_ / "a");
    ASSERT_TRUE(fs::exists(root_ / "b" / rel)) << rel;
    EXPECT_EQ(slurp(e.path()), slurp(root_ / "b" / rel)) << rel << " differs between two runs with seed 5";
    ++files;
  }
  EXPECT_GT(files, 150u);
  EXPECT_NE(slurp(root_ / "a" / "finetune.json"), slurp(root_ / "c" / "finetune.json"));
}

TEST_F(DemoData, ItemsDoNotDependOnCounts) {
  make("small", 3, 50, 8);
  make("large", 3, 80, 20);
  for (const char* f : {"images/train_000007.png", "images/eval_000005.png"})
    EXPECT_EQ(slurp(root_ / "small" / f), slurp(root_ / "large" / f)) << f;
}

TEST_F(DemoData, BadOptions) {
  DemoDataOptions o;
  o.out = (root_ / "x").string();
  o.train = 0;
  EXPECT_THROW(generate_demo_data(o), Error);
  o.train = 10;
  o.image_size = 8;
  EXPECT_THROW(generate_demo_data(o), Error);
}

TEST(DemoRender, PixelsFollowTheScene) {
  Scene s;
  s.background = 230;
  Shape sh;
  sh.kind = 1;  // square
  sh.cx = 32;
  sh.cy = 32;
  sh.radius = 10;
  sh.rgb = {200, 30, 40};
  s.shapes = {sh};
  for (int size : {64, 128}) {
    const auto px = render_scene(s, size);
    ASSERT_EQ(px.size(), static_cast<size_t>(size * size * 3));
    const auto at = [&](int x, int y, int c) { return int(px[(size_t(y) * size + x) * 3 + c]); };
    EXPECT_EQ(at(size / 2, size / 2, 0), 200);
    EXPECT_EQ(at(size / 2, size / 2, 1), 30);
    EXPECT_EQ(at(size / 2, size / 2, 2), 40);
    EXPECT_EQ(at(1, 1, 0), 230);
    EXPECT_EQ(at(size - 2, size - 2, 2), 230);
  }
  s.noise_sigma = 5;
  s.noise_seed = 11;
  const auto a = render_scene(s, 64), b = render_scene(s, 64);
  EXPECT_EQ(a, b);
  int differs = 0;
  for (size_t i = 0; i < a.size(); i += 3) differs += a[i] != 230 && i < 64 * 3 ? 1 : 0;
  EXPECT_GT(differs, 10);  // the first row is noisy background
}

}  // namespace
}  // namespace imp::demo
