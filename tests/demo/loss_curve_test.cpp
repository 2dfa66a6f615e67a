// imp loss-curve's parts: reading metrics.jsonl, the sparkline, the text lines and the PNG plot.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/demo/loss_curve.h"

namespace imp::demo {
namespace {

namespace fs = std::filesystem;

class LossCurveFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("imp_loss_curve_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "run");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  fs::path dir_;
};

TEST(LossCurve, SparklineLevelsAndBins) {
  EXPECT_EQ(sparkline({}, 10), "");
  EXPECT_EQ(sparkline({3.0, 2.0, 1.0}, 0), "");
  // min -> lowest block, max -> full block, one character per point when there are fewer than width.
  EXPECT_EQ(sparkline({8.0, 1.0, 4.5}, 10), "\u2588\u2581\u2585");
  EXPECT_EQ(sparkline({2.0, 2.0}, 10), "\u2581\u2581");  // flat: all lowest
  // 6 points into 3 columns: means 7, 3, 1.
  EXPECT_EQ(sparkline({8, 6, 4, 2, 1, 1}, 3), "\u2588\u2583\u2581");
}

TEST_F(LossCurveFiles, ReadsRunDirectoryAndSkipsNonFiniteLosses) {
  write("run/metrics.jsonl",
        "{\"step\":5,\"loss\":4.0,\"learning_rate\":0.1}\n"
        "\n"
        "{\"step\":10,\"loss\":null}\n"
        "{\"step\":15,\"loss\":2.5}\n");
  const LossCurve c = read_loss_curve((dir_ / "run").string(), "stage 2");
  EXPECT_EQ(c.label, "stage 2");
  EXPECT_EQ(c.steps, (std::vector<int64_t>{5, 15}));
  EXPECT_EQ(c.losses, (std::vector<double>{4.0, 2.5}));
  const std::string line = format_loss_curves({c}, 10);
  EXPECT_NE(line.find("stage 2"), std::string::npos) << line;
  EXPECT_NE(line.find("4.0000"), std::string::npos) << line;
  EXPECT_NE(line.find("2.5000"), std::string::npos) << line;
  EXPECT_NE(line.find("steps 5-15"), std::string::npos) << line;
}

TEST_F(LossCurveFiles, ErrorsNameTheFileAndLine) {
  const std::string bad = write("bad.jsonl", "{\"step\":1,\"loss\":1.0}\n{\"step\":2,\"loss\":\n");
  try {
    read_loss_curve(bad, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad + ":2"), std::string::npos) << e.what();
  }
  const std::string empty = write("empty.jsonl", "{\"step\":1,\"grad_norm\":1.0}\n");
  EXPECT_THROW(read_loss_curve(empty, "x"), Error);
  EXPECT_THROW(read_loss_curve((dir_ / "missing").string(), "x"), Error);
  const std::string wrong = write("wrong.jsonl", "{\"step\":1,\"loss\":\"low\"}\n");
  EXPECT_THROW(read_loss_curve(wrong, "x"), Error);
}

#ifdef IMP_WITH_OPENCV
TEST_F(LossCurveFiles, PngHasTheRequestedSize) {
  const std::string m = write("m.jsonl", "{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"loss\":1.0}\n");
  const std::string png = (dir_ / "loss.png").string();
  write_loss_plot_png({read_loss_curve(m, "a"), read_loss_curve(m, "b")}, png, 320, 200);
  const std::string bytes = read_text_file(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
           (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
  };
  EXPECT_EQ(be32(16), 320u);  // IHDR width, height
  EXPECT_EQ(be32(20), 200u);
  EXPECT_THROW(write_loss_plot_png({}, png), Error);
}
#endif

}  // namespace
}  // namespace imp::demo
