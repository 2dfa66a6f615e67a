// The data pipeline end to end on a generated dataset with ~5% broken samples of every kind:
// `imp data check` names each problem, `imp data dump` writes every good sample, and the loader gives
// the same batches with 1 or 4 worker threads.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "imp/core/json.h"
#include "imp/data/data_loader.h"
#include "imp/data/sampler.h"
#include "test_utils.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

std::string run(const std::string& args, int* code) {
  std::string out;
  FILE* p = ::popen((std::string(IMP_BINARY) + " " + args + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = ::pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

Json turn(const std::string& from, const std::string& value) { return {{"from", from}, {"value", value}}; }

// 200 samples: good image and text-only ones, and 10 broken ones (5%), each of a different kind.
class GeneratedDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("imp_data_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_ + "/images");
    Json list = Json::array();
    for (int i = 0; i < 190; ++i) {
      Json r = {{"id", "good" + std::to_string(i)}};
      if (i % 4 != 3) {
        const std::string name = "img" + std::to_string(i) + (i % 2 ? ".png" : ".jpg");
        cv::Mat m(20 + i % 17, 30 + i % 11, CV_8UC3, cv::Scalar(i % 256, (3 * i) % 256, (7 * i) % 256));
        cv::imwrite(dir_ + "/images/" + name, m);
        r["image"] = name;
        r["conversations"] = {turn("human", "<image>\nWhat colour is it?"), turn("gpt", "Colour " + std::to_string(i))};
      } else {
        r["conversations"] = {turn("human", "Count to " + std::to_string(i)), turn("gpt", "1 2 3")};
      }
      list.push_back(r);
    }
    std::ofstream(dir_ + "/images/corrupt.jpg") << "this is not a jpeg";
    std::ofstream(dir_ + "/images/empty.png");
    {
      std::vector<uchar> png;
      cv::imencode(".png", cv::Mat(40, 40, CV_8UC3, cv::Scalar(1, 2, 3)), png);
      std::ofstream(dir_ + "/images/truncated.png", std::ios::binary).write(reinterpret_cast<char*>(png.data()), png.size() / 2);
    }
    auto bad = [&](const std::string& id, Json r) {
      r["id"] = id;
      list.push_back(r);
      bad_ids_.push_back(id);
    };
    const Json qa = {turn("human", "<image>\nQ?"), turn("gpt", "A.")};
    bad("missing_image", {{"image", "nope.jpg"}, {"conversations", qa}});
    bad("corrupt_image", {{"image", "corrupt.jpg"}, {"conversations", qa}});
    bad("empty_image", {{"image", "empty.png"}, {"conversations", qa}});
    bad("truncated_png", {{"image", "truncated.png"}, {"conversations", qa}});
    bad("dotdot_path", {{"image", "../etc/passwd"}, {"conversations", qa}});
    bad("no_turns", {{"conversations", Json::array()}});
    bad("not_alternating", {{"conversations", {turn("human", "a"), turn("human", "b")}}});
    bad("unknown_role", {{"conversations", {turn("human", "a"), turn("robot", "b")}}});
    bad("value_not_string", {{"conversations", {{{"from", "human"}, {"value", 3}}}}});
    // Python collapses several markers in one turn into one; markers in two turns stay two.
    bad("two_image_markers", {{"image", "img0.jpg"}, {"conversations", {turn("human", "<image> Q"), turn("gpt", "<image> A")}}});
    std::ofstream(dir_ + "/data.json") << list.dump(1);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string flags() const {
    return "--data_path " + dir_ + "/data.json --image_folder " + dir_ + "/images --tokenizer " +
           data_path("tokenizers/phi2") + " --version phi2 --image_size 32";
  }
  std::string dir_;
  std::vector<std::string> bad_ids_;
};

TEST_F(GeneratedDataset, CheckNamesEveryProblem) {
  int code = 0;
  auto out = run("data check " + flags() + " --bad_samples " + dir_ + "/bad.jsonl --max_bad_fraction 0.1", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("\"bad\": 10"), std::string::npos) << out;
  std::ifstream in(dir_ + "/bad.jsonl");
  std::vector<std::string> found;
  for (std::string line; std::getline(in, line);) found.push_back(Json::parse(line).at("id"));
  std::sort(found.begin(), found.end());
  auto expected = bad_ids_;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(found, expected);

  // The same data over the budget fails with exit code 3.
  run("data check " + flags() + " --max_bad_fraction 0.01", &code);
  EXPECT_EQ(code, 3);
}

TEST_F(GeneratedDataset, DumpWritesIdsLabelsAndPixels) {
  int code = 0;
  auto out = run("data dump " + flags() + " --limit 8 --output " + dir_ + "/dump.jsonl --pixels " + dir_ + "/px.safetensors", &code);
  ASSERT_EQ(code, 0) << out;
  std::ifstream in(dir_ + "/dump.jsonl");
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    auto j = Json::parse(line);
    EXPECT_EQ(j.at("input_ids").size(), j.at("labels").size());
  }
  EXPECT_EQ(lines, 8);
  auto px = load_safetensors(dir_ + "/px.safetensors");
  EXPECT_EQ(px.at("good0").sizes(), (std::vector<int64_t>{3, 32, 32}));
}

TEST_F(GeneratedDataset, LoaderBatchesDoNotDependOnThreads) {
  auto tok = text::Tokenizer::from_path(data_path("tokenizers/phi2"));
  data::DataArgs args;
  args.data_path = dir_ + "/data.json";
  args.image_folder = dir_ + "/images";
  args.image_size = 32;
  args.text = data::prepare_tokenizer(*tok, "phi2", 128);
  data::SupervisedDataset ds(args, tok);
  const auto order = data::epoch_order(data::SamplerKind::modality_grouped, ds.size(), 1, 0, ds.modality_lengths(), 4, 1);
  auto batches = data::rank_batches(order, 4, 0, 1);
  auto collect = [&](int workers) {
    data::DataLoader loader(ds, batches, workers, 3);
    std::vector<data::Batch> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    return out;
  };
  const auto one = collect(1), four = collect(4), inline_ = collect(0);
  ASSERT_EQ(one.size(), batches.size());
  ASSERT_EQ(four.size(), one.size());
  for (size_t k = 0; k < one.size(); ++k) {
    EXPECT_EQ(one[k].indices, four[k].indices);
    EXPECT_TRUE(torch::equal(one[k].input_ids, four[k].input_ids)) << k;
    EXPECT_TRUE(torch::equal(one[k].labels, inline_[k].labels)) << k;
    EXPECT_TRUE(torch::equal(one[k].pixel_values, four[k].pixel_values)) << k;
  }
  EXPECT_EQ(ds.bad_count(), bad_ids_.size());  // every bad sample was met once and replaced
}

}  // namespace
}  // namespace imp::test
