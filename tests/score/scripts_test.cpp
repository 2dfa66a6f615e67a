// The scoring half of scripts/eval/*.sh (STAGE=score) on the golden answer files, through the imp
// executable: all.sh must find the prepared benchmarks, score them and print the README table; a
// missing file must stop a script with a message saying where the file goes.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(IMP_TEST_DATA).parent_path().parent_path();
const fs::path kData = fs::path(IMP_TEST_DATA) / "eval_score";

struct Proc {
  int status;
  std::string output;  // stdout + stderr
};

Proc run(const std::string& cmd) {
  Proc r{0, ""};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

void put(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

void copy_answers(const fs::path& eval_dir, const std::string& bench_dir, const std::string& split,
                  const fs::path& answers) {
  const fs::path dst = eval_dir / bench_dir / "answers" / split / "golden" / "merge.jsonl";
  fs::create_directories(dst.parent_path());
  fs::copy_file(answers, dst, fs::copy_options::overwrite_existing);
}

bool imp_has_eval_score() { return run(std::string("'") + IMP_BINARY + "' eval score --help > /dev/null").status == 0; }

class ScoreScripts : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!imp_has_eval_score()) GTEST_SKIP() << "this imp build has no `eval score` command (eval area not merged)";
    dir_ = fs::temp_directory_path() / ("imp_score_scripts_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string env() const {
    return "STAGE=score CKPT=golden EVAL_DIR='" + dir_.string() + "' IMP='" + IMP_BINARY + "' ";
  }
  fs::path dir_;
};

TEST_F(ScoreScripts, AllShScoresPreparedAnswersAndPrintsTheTable) {
  const auto copy = fs::copy_options::recursive | fs::copy_options::overwrite_existing;
  // Question files only need to exist for all.sh to pick a benchmark up; STAGE=score does not read them
  // (except POPE's, which maps answers to splits).
  fs::create_directories(dir_ / "pope");
  fs::copy(kData / "pope" / "coco", dir_ / "pope" / "coco", copy);
  fs::copy_file(kData / "pope" / "llava_pope_test.jsonl", dir_ / "pope" / "llava_pope_test.jsonl");
  copy_answers(dir_, "pope", "llava_pope_test", kData / "pope" / "answers.jsonl");
  put(dir_ / "scienceqa" / "llava_test_CQM-A.json", "[]");
  fs::copy_file(kData / "sqa" / "pid_splits.json", dir_ / "scienceqa" / "pid_splits.json");
  fs::copy_file(kData / "sqa" / "problems.json", dir_ / "scienceqa" / "problems.json");
  copy_answers(dir_, "scienceqa", "llava_test_CQM-A", kData / "sqa" / "answers.jsonl");
  put(dir_ / "MME" / "llava_mme.jsonl", "");
  fs::copy(kData / "mme" / "MME_Benchmark_release_version", dir_ / "MME" / "MME_Benchmark_release_version", copy);
  copy_answers(dir_, "MME", "llava_mme", kData / "mme" / "answers.jsonl");
  put(dir_ / "gqa" / "llava_gqa_testdev_balanced.jsonl", "");
  fs::create_directories(dir_ / "gqa" / "data");
  fs::copy_file(kData / "gqa" / "testdev_balanced_questions.json", dir_ / "gqa" / "data" / "testdev_balanced_questions.json");
  copy_answers(dir_, "gqa", "llava_gqa_testdev_balanced", kData / "gqa" / "answers.jsonl");
  put(dir_ / "textvqa" / "llava_textvqa_val_v051_ocr.jsonl", "");
  fs::copy_file(kData / "textvqa" / "TextVQA_0.5.1_val.json", dir_ / "textvqa" / "TextVQA_0.5.1_val.json");
  copy_answers(dir_, "textvqa", "llava_textvqa_val_v051_ocr", kData / "textvqa" / "answers.jsonl");
  put(dir_ / "mm-vet" / "llava-mm-vet.jsonl", "");
  copy_answers(dir_, "mm-vet", "llava-mm-vet", kData / "submit" / "mmvet_answers.jsonl");

  const Proc r = run(env() + "bash '" + (kRoot / "scripts" / "eval" / "all.sh").string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  // GQA 66.67, SQA-IMG 5/15, TextVQA 88.33, POPE mean F1 (0.6154 * 2 + 0.4444) / 3, MME(P) 500.
  EXPECT_NE(r.output.find("| golden | - | 66.67 | - | 33.33 | 88.33 | 55.84 | 500.0 | - | server |"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("vqav2: skipped"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "results" / "golden" / "gqa.json"));
  EXPECT_TRUE(fs::exists(dir_ / "gqa" / "data" / "testdev_balanced_predictions.json"));
  EXPECT_TRUE(fs::exists(dir_ / "MME" / "eval_tool" / "answers" / "golden" / "OCR.txt"));
  EXPECT_TRUE(fs::exists(dir_ / "mm-vet" / "results" / "golden.json"));
}

TEST_F(ScoreScripts, MissingFilesSayWhereToPutThem) {
  Proc r = run(env() + "bash '" + (kRoot / "scripts" / "eval" / "gqa.sh").string() + "'");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("merge.jsonl"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("playground/README.md"), std::string::npos) << r.output;
  r = run("STAGE=infer MODEL_PATH=m EVAL_DIR='" + dir_.string() + "' IMP='" + IMP_BINARY + "' bash '" +
          (kRoot / "scripts" / "eval" / "pope.sh").string() + "'");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("llava_pope_test.jsonl"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("eval.zip"), std::string::npos) << r.output;
}

}  // namespace
