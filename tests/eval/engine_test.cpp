// `imp eval` engines in-process against the HF goldens of scripts/make_eval_fixtures.py: every engine and
// decoder, batch 1 and batched; chunks, resuming, the answer-line format.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "eval_test_utils.h"
#include "imp/core/fs.h"
#include "imp/eval/engine.h"

namespace imp::test {
namespace {

namespace fs = std::filesystem;

std::string temp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("imp_eval_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / name;
  fs::remove(p);
  return p.string();
}

struct EngineCase {
  std::string name, question_file, golden;
  int64_t max_new_tokens;
  bool all_rounds = false, single_pred = false;
};

const std::vector<EngineCase>& engine_cases() {
  static const std::vector<EngineCase> c = {
      {"loader", "eval/questions.jsonl", "loader", 16},
      {"sqa", "eval/sqa.json", "sqa", 12},
      {"mmbench", "eval/mmbench.tsv", "mmbench", 10},
      {"mmbench_rounds", "eval/mmbench.tsv", "mmbench_rounds", 10, true, true},
  };
  return c;
}

eval::EvalOptions options(const std::string& dec, const EngineCase& c, const std::string& answers) {
  eval::EvalOptions o;
  o.session.model_path = model_dir("gen_" + dec);
  o.session.device = "cpu";
  o.session.dtype = "float32";
  o.question_file = data_path(c.question_file);
  o.image_folder = data_path("eval/images");
  o.answers_file = answers;
  o.temperature = 0;
  o.max_new_tokens = c.max_new_tokens;
  o.all_rounds = c.all_rounds;
  o.single_pred_prompt = c.single_pred;
  return o;
}

void expect_answers(const std::vector<Json>& got, const std::vector<Json>& want, const std::string& dec,
                    const std::string& label) {
  ASSERT_EQ(got.size(), want.size()) << label;
  for (size_t i = 0; i < want.size(); ++i) {
    for (const auto& [key, value] : want[i].items())
      EXPECT_EQ(got[i][key], value) << label << " line " << i << " key " << key;
    EXPECT_EQ(got[i]["answer_id"].get<std::string>().size(), 22u);
    EXPECT_EQ(got[i]["model_id"], "gen_" + dec);
    EXPECT_TRUE(got[i]["metadata"].is_object() && got[i]["metadata"].empty());
  }
}

std::string first_lines(const std::string& path, size_t n) {
  std::ifstream f(path);
  std::string line, out;
  for (size_t i = 0; i < n && std::getline(f, line); ++i) out += line + "\n";
  return out;
}

class EngineGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineGolden, EveryEngineBatch1AndBatchedMatchHF) {
  const std::string dec = GetParam();
  for (const auto& c : engine_cases()) {
    const auto want = read_jsonl(data_path("golden/eval_" + c.golden + "_" + dec + ".jsonl"));
    for (int64_t batch : {1, 4}) {
      const std::string label = dec + " " + c.name + " batch " + std::to_string(batch);
      auto o = options(dec, c, temp_file(dec + "_" + c.name + ".jsonl"));
      o.batch_size = batch;
      std::ostringstream log;
      const auto sum = eval::run_eval(o, log);
      EXPECT_EQ(sum.answered, want.size()) << label;
      expect_answers(read_jsonl(o.answers_file), want, dec, label);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Decoders, EngineGolden, ::testing::ValuesIn(decoders()),
                         [](const auto& info) { return info.param; });

TEST(Engine, LoraAdapterOnABaseModelMatchesHFMerged) {
  const auto& c = engine_cases()[0];
  auto o = options("phi2", c, temp_file("lora.jsonl"));
  o.session.model_base = o.session.model_path;  // the adapter has no tokenizer: the base's is used
  o.session.model_path = model_dir("gen_phi2_lora");
  o.batch_size = 4;
  std::ostringstream log;
  eval::run_eval(o, log);
  auto got = read_jsonl(o.answers_file);
  for (auto& line : got) line["model_id"] = "gen_phi2";  // Python's model_id: the --model-path directory name
  expect_answers(got, read_jsonl(data_path("golden/eval_loader_phi2_lora.jsonl")), "phi2", "lora");
  EXPECT_EQ(read_jsonl(o.answers_file)[0]["model_id"], "gen_phi2_lora");
}

TEST(Engine, ChunksConcatenateToTheWholeFile) {
  // loader: 6 questions, ceil(6/4) = 2 per chunk: 2, 2, 2 and an empty 4th chunk.
  // MMBench --all-rounds: chunks split the 4 TSV rows (1 per chunk), then each row expands to its rounds.
  const std::vector<std::pair<size_t, std::vector<size_t>>> expect = {{0, {2, 2, 2, 0}}, {3, {4, 2, 3, 4}}};
  for (const auto& [case_index, want_sizes] : expect) {
    const auto& c = engine_cases()[case_index];
    const auto want = read_jsonl(data_path("golden/eval_" + c.golden + "_phi2.jsonl"));
    std::vector<Json> all;
    std::vector<size_t> sizes;
    for (int64_t k = 0; k < 4; ++k) {
      auto o = options("phi2", c, temp_file("chunk_" + std::to_string(k) + ".jsonl"));
      o.num_chunks = 4;
      o.chunk_idx = k;
      o.batch_size = 2;
      std::ostringstream log;
      eval::run_eval(o, log);
      auto part = read_jsonl(o.answers_file);
      sizes.push_back(part.size());
      all.insert(all.end(), part.begin(), part.end());
    }
    EXPECT_EQ(sizes, want_sizes) << c.name;
    expect_answers(all, want, "phi2", c.name + " chunks");
  }
}

TEST(Engine, ResumesAfterTheAnswersWrittenAndDropsATornLine) {
  const auto& c = engine_cases()[0];
  const auto want = read_jsonl(data_path("golden/eval_loader_qwen2.jsonl"));
  auto o = options("qwen2", c, temp_file("resume.jsonl"));
  std::ostringstream log;
  eval::run_eval(o, log);
  const std::string kept = first_lines(o.answers_file, 2);
  atomic_write(o.answers_file, kept + "{\"question_id\": \"q2\", \"pro");  // killed mid-line
  o.batch_size = 3;
  const auto sum = eval::run_eval(o, log);
  EXPECT_EQ(sum.resumed, 2u);
  EXPECT_EQ(sum.answered, 4u);
  EXPECT_EQ(first_lines(o.answers_file, 2), kept);  // the old answers (and their answer_ids) stay
  expect_answers(read_jsonl(o.answers_file), want, "qwen2", "resumed");
  // complete: nothing left to do, the model is not even loaded
  o.session.model_path = model_dir("gen_phi3");
  EXPECT_EQ(eval::run_eval(o, log).answered, 0u);
}

TEST(Engine, RefusesAnswersOfAnotherQuestionFile) {
  const auto& c = engine_cases()[0];
  auto o = options("phi2", c, temp_file("foreign.jsonl"));
  atomic_write(o.answers_file, "{\"question_id\": \"zzz\", \"text\": \"x\"}\n");
  std::ostringstream log;
  try {
    eval::run_eval(o, log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  o.overwrite = true;
  o.num_chunks = 3;  // 2 questions
  EXPECT_EQ(eval::run_eval(o, log).answered, 2u);
}

TEST(Engine, UsageErrors) {
  const auto& c = engine_cases()[0];
  std::ostringstream log;
  auto expect_usage = [&](eval::EvalOptions o, const std::string& what) {
    try {
      eval::run_eval(o, log);
      FAIL() << what << ": expected a usage error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage) << what << ": " << e.what();
    }
  };
  auto o = options("phi2", c, temp_file("usage.jsonl"));
  auto bad = o;
  bad.num_beams = 2;
  expect_usage(bad, "num_beams");
  bad = o;
  bad.chunk_idx = 4;
  expect_usage(bad, "chunk_idx");
  bad = o;
  bad.benchmark = "nope";
  expect_usage(bad, "benchmark");
  bad = o;
  bad.answers_file.clear();
  expect_usage(bad, "answers_file");
  bad = o;
  bad.conv_mode = "llava_v1";
  expect_usage(bad, "conv_mode");
}

TEST(EngineFormat, PythonConventions) {
  EXPECT_EQ(eval::chunk_range(10, 3, 0), std::make_pair(size_t{0}, size_t{4}));
  EXPECT_EQ(eval::chunk_range(10, 3, 2), std::make_pair(size_t{8}, size_t{10}));
  EXPECT_EQ(eval::chunk_range(5, 4, 3), std::make_pair(size_t{5}, size_t{5}));  // Python: IndexError
  EXPECT_EQ(eval::model_name_from_path("/x/imp-v1-3b/"), "imp-v1-3b");
  EXPECT_EQ(eval::model_name_from_path("runs/lora/checkpoint-500"), "lora_checkpoint-500");
  nlohmann::ordered_json j;
  j["question_id"] = 7;
  j["prompt"] = "a\"b\\\n\t\x01 é 漢 😀";
  j["options"] = {"x", "y"};
  j["metadata"] = nlohmann::ordered_json::object();
  EXPECT_EQ(eval::python_json_dumps(j),
            "{\"question_id\": 7, \"prompt\": \"a\\\"b\\\\\\n\\t\\u0001 \\u00e9 \\u6f22 \\ud83d\\ude00\", "
            "\"options\": [\"x\", \"y\"], \"metadata\": {}}");
  EXPECT_EQ(eval::finish_answer(eval::Engine::mmbench, "phi2", "B</s>"), "B");
  EXPECT_EQ(eval::finish_answer(eval::Engine::mmbench, "qwen2", "B"), "B");  // Python: ""
  EXPECT_EQ(eval::finish_answer(eval::Engine::loader, "phi2", "B</s>"), "B</s>");
  EXPECT_EQ(eval::engine_for("", "x.tsv"), eval::Engine::mmbench);
  EXPECT_EQ(eval::engine_for("", "x.json"), eval::Engine::science);
  EXPECT_EQ(eval::engine_for("pope", "x.json"), eval::Engine::loader);
  EXPECT_EQ(eval::engine_for("sqa", "x.jsonl"), eval::Engine::science);
}

TEST(EngineFormat, MmbenchTsvQuotingOptionsAndRounds) {
  const std::string path = temp_file("q.tsv");
  atomic_write(path,
               "index\tquestion\thint\tA\tB\tC\tD\timage\n"
               "3\t\"Two\tlines\n\"\"quoted\"\"\"\tNone\tx\ty\tNA\tz\taGVsbG8=\r\n"
               "id7\tQ\tH\t1\t2\t3\t4\taGk=\n");
  eval::EvalOptions o;
  o.question_file = path;
  o.all_rounds = true;
  o.single_pred_prompt = true;
  o.lang = "cn";
  const auto items = eval::load_items(eval::Engine::mmbench, o);
  ASSERT_EQ(items.size(), 2u + 4u);  // options stop at the first missing one (C = "NA")
  EXPECT_EQ(items[0].head["question_id"], 3);
  EXPECT_EQ(items[0].head["prompt"], "Two\tlines\n\"quoted\"\nA. x\nB. y");
  EXPECT_EQ(items[1].head["prompt"], "Two\tlines\n\"quoted\"\nA. y\nB. x");
  EXPECT_EQ(items[1].tail["option_char"], nlohmann::ordered_json({"B", "A"}));
  EXPECT_EQ(items[0].image, "hello");
  EXPECT_EQ(items[2].head["question_id"], "id7");
  EXPECT_EQ(items[2].head["prompt"], "H\nQ\nA. 1\nB. 2\nC. 3\nD. 4");
  EXPECT_EQ(items[3].head["round_id"], 1);
  EXPECT_EQ(items[2].question, "<image>\nH\nQ\nA. 1\nB. 2\nC. 3\nD. 4\n\xe8\xaf\xb7\xe7\x9b\xb4\xe6\x8e\xa5\xe5\x9b\x9e"
                               "\xe7\xad\x94\xe9\x80\x89\xe9\xa1\xb9\xe5\xad\x97\xe6\xaf\x8d\xe3\x80\x82");
}

TEST(EngineFormat, MmbenchBadBase64NamesTheRow) {
  const std::string path = temp_file("bad64.tsv");
  atomic_write(path, "index\tquestion\tA\tB\timage\n5\tQ\tx\ty\taG=Vs\n");
  eval::EvalOptions o;
  o.question_file = path;
  try {
    eval::load_items(eval::Engine::mmbench, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("not valid base64 (unexpected character at offset 3)"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace imp::test
