// The `imp eval` and `imp generate` commands end to end (flags, exit codes, output).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sys/wait.h>

#include "eval_test_utils.h"

namespace imp::test {
namespace {

struct Run {
  int code;
  std::string out;
};

Run run(const std::string& args) {
  const std::string cmd = std::string(IMP_BINARY) + " " + args + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  const int status = pclose(p.release());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(EvalCli, LoaderAnswersWithPythonFlags) {
  const std::string answers = (std::filesystem::temp_directory_path() / "imp_eval_cli_answers.jsonl").string();
  std::filesystem::remove(answers);
  const auto r = run("eval --model-path " + model_dir("gen_phi3") + " --question-file " +
                     data_path("eval/questions.jsonl") + " --image-folder " + data_path("eval/images") +
                     " --answers-file " + answers + " --conv-mode phi3 --temperature 0 --num_beams 1" +
                     " --max_new_tokens 16 --num-chunks 1 --chunk-idx 0 --benchmark gqa --batch-size 8 --device cpu --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const Json summary = parse_json(r.out, "stdout");
  EXPECT_EQ(summary["answered"], 6);
  const auto got = read_jsonl(answers);
  const auto want = read_jsonl(data_path("golden/eval_loader_phi3.jsonl"));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i]["text"], want[i]["text"]) << i;
}

TEST(EvalCli, MissingFlagsAreUsageErrors) {
  EXPECT_EQ(run("eval --question-file x.jsonl --answers-file y.jsonl").code, 2);
  EXPECT_EQ(run("eval --model-path " + model_dir("gen_phi2") + " --answers-file y.jsonl").code, 2);
  EXPECT_EQ(run("generate --prompt hi").code, 2);
}

TEST(GenerateCli, PrintsTheGreedyAnswer) {
  const auto want = read_jsonl(data_path("golden/generate_qwen2.jsonl"));
  const auto r = run("generate --model " + model_dir("gen_qwen2") + " --image " + data_path("eval/images/blue.png") +
                     " --prompt 'How many people are in the picture?'" +
                     " --max-new-tokens 16 --device cpu");
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.out, want[1]["text"].get<std::string>() + "\n");
}

}  // namespace
}  // namespace imp::test
