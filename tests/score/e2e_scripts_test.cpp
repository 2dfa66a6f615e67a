// scripts/eval/*.sh end to end (STAGE=all: `imp eval` on the CPU, merge, score/convert) on the CI fixtures.
// Each test builds a playground in LLaVA's layout (playground/README.md) from tests/data/eval (images,
// SQA .json, MMBench .tsv) and tests/data/eval_score (annotations, question lists) and answers it with the
// tiny random model tests/data/models/gen_phi2. The answers are noise; the tests check that the pipeline
// ran: exit 0, one merged answer per question in question order with the engine's keys, and the
// score/convert outputs on disk.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

const fs::path kData = fs::path(IMP_TEST_DATA);
const fs::path kRoot = kData.parent_path().parent_path();
const fs::path kScripts = kRoot / "scripts" / "eval";
const fs::path kScore = kData / "eval_score";
const std::vector<std::string> kImages = {"red.png", "blue.png", "wide.png", "tall.png"};
const std::string kCkpt = "gen_phi2";  // CKPT defaults to basename(MODEL_PATH)

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

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Json> read_jsonl(const fs::path& p) {
  std::vector<Json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

void write_jsonl(const fs::path& p, const std::vector<Json>& rows) {
  std::string text;
  for (const auto& r : rows) text += r.dump() + "\n";
  write_text(p, text);
}

void put_file(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// The four fixture images into an image folder.
void copy_images(const fs::path& dir) {
  for (const auto& name : kImages) put_file(kData / "eval" / "images" / name, dir / name);
}

// Loader questions: the fixture images in turn.
std::vector<Json> with_images(std::vector<Json> rows) {
  for (size_t i = 0; i < rows.size(); ++i) rows[i]["image"] = kImages[i % kImages.size()];
  return rows;
}

// Loader questions asking what a golden answers file answered (same ids and prompts, so the scorer's
// ground truth matches them).
std::vector<Json> questions_from_answers(const fs::path& answers) {
  std::vector<Json> rows;
  for (const auto& a : read_jsonl(answers))
    rows.push_back({{"question_id", a["question_id"]}, {"image", ""}, {"text", a["prompt"]}, {"category", "default"}});
  return with_images(rows);
}

struct Bench {
  std::string name;                  // scripts/eval/<name>.sh
  std::string questions;             // question file, relative to EVAL_DIR
  std::string images;                // image folder, relative to EVAL_DIR ("" = images inside the TSV)
  std::string answers_dir;           // <EVAL_DIR>/<answers_dir>/merge.jsonl
  std::vector<std::string> outputs;  // files the score stage writes, relative to EVAL_DIR
  bool mmbench_keys = false;         // model_vqa_mmbench also writes round_id, options, option_char
};

void PrintTo(const Bench& b, std::ostream* os) { *os << b.name; }

const std::vector<Bench>& benches() {
  static const std::string r = "results/" + kCkpt + "/";
  static const std::vector<Bench> all = {
      {"vqav2", "vqav2/llava_vqav2_mscoco_test-dev2015.jsonl", "vqav2/test2015",
       "vqav2/answers/llava_vqav2_mscoco_test-dev2015/" + kCkpt,
       {"vqav2/answers_upload/llava_vqav2_mscoco_test-dev2015/" + kCkpt + ".json", r + "vqav2.txt"}},
      {"gqa", "gqa/llava_gqa_testdev_balanced.jsonl", "gqa/data/images", "gqa/answers/llava_gqa_testdev_balanced/" + kCkpt,
       {"gqa/data/testdev_balanced_predictions.json", r + "gqa.json", r + "gqa.txt"}},
      {"vizwiz", "vizwiz/llava_test.jsonl", "vizwiz/test", "vizwiz/answers/llava_test/" + kCkpt,
       {"vizwiz/answers_upload/llava_test/" + kCkpt + ".json", r + "vizwiz.txt"}},
      {"sqa", "scienceqa/llava_test_CQM-A.json", "scienceqa/images/test", "scienceqa/answers/llava_test_CQM-A/" + kCkpt,
       {r + "sqa.json", r + "sqa.txt"}},
      {"textvqa", "textvqa/llava_textvqa_val_v051_ocr.jsonl", "textvqa/train_images",
       "textvqa/answers/llava_textvqa_val_v051_ocr/" + kCkpt, {r + "textvqa.json", r + "textvqa.txt"}},
      {"pope", "pope/llava_pope_test.jsonl", "pope/val2014", "pope/answers/llava_pope_test/" + kCkpt,
       {r + "pope.json", r + "pope.txt"}},
      {"mme", "MME/llava_mme.jsonl", "MME/MME_Benchmark_release_version", "MME/answers/llava_mme/" + kCkpt,
       {r + "mme.json", r + "mme.txt", "MME/eval_tool/answers/" + kCkpt + "/OCR.txt"}},
      {"mmbench", "mmbench/mmbench_dev_20230712.tsv", "", "mmbench/answers/mmbench_dev_20230712/" + kCkpt,
       {"mmbench/answers_upload/mmbench_dev_20230712/" + kCkpt + ".xlsx", r + "mmbench.txt"}, true},
      {"mmvet", "mm-vet/llava-mm-vet.jsonl", "mm-vet/images", "mm-vet/answers/llava-mm-vet/" + kCkpt,
       {"mm-vet/results/" + kCkpt + ".json", r + "mmvet.txt"}},
  };
  return all;
}

// Writes benchmark b's question file, images and annotations under `eval` and returns the question
// ids in question-file order (the order merge.jsonl must have).
std::vector<Json> prepare(const fs::path& eval, const Bench& b) {
  const std::string& name = b.name;
  const fs::path questions = eval / b.questions, images = eval / b.images;
  const auto ids = [](const std::vector<Json>& rows, const char* key) {
    std::vector<Json> out;
    for (const auto& q : rows) out.push_back(q[key]);
    return out;
  };
  if (name == "vqav2") {
    // Answer 4 of the 6 test2015 questions; the upload file must still list all 6.
    auto all = with_images(read_jsonl(kScore / "submit" / "llava_vqav2_mscoco_test2015.jsonl"));
    write_jsonl(eval / "vqav2" / "llava_vqav2_mscoco_test2015.jsonl", all);
    all.resize(4);
    write_jsonl(questions, all);
    copy_images(images);
    return ids(all, "question_id");
  }
  if (name == "gqa") {  // GQA's eval needs every balanced question: all 12 of the fixture
    const auto qs = questions_from_answers(kScore / "gqa" / "answers.jsonl");
    write_jsonl(questions, qs);
    copy_images(images);
    put_file(kScore / "gqa" / "testdev_balanced_questions.json", eval / "gqa" / "data" / "testdev_balanced_questions.json");
    return ids(qs, "question_id");
  }
  if (name == "vizwiz") {
    const auto qs = with_images(read_jsonl(kScore / "submit" / "llava_vizwiz_test.jsonl"));
    write_jsonl(questions, qs);
    copy_images(images);
    return ids(qs, "question_id");
  }
  if (name == "sqa") {
    // The science engine's fixture questions, renumbered as test problems of the scoring fixture.
    Json qs = Json::parse(slurp(kData / "eval" / "sqa.json"));
    for (size_t i = 0; i < qs.size(); ++i) qs[i]["id"] = std::to_string(i + 1);
    write_text(questions, qs.dump(1));
    copy_images(images);
    put_file(kScore / "sqa" / "pid_splits.json", eval / "scienceqa" / "pid_splits.json");
    put_file(kScore / "sqa" / "problems.json", eval / "scienceqa" / "problems.json");
    return ids(qs.get<std::vector<Json>>(), "id");
  }
  if (name == "textvqa") {
    const auto qs = questions_from_answers(kScore / "textvqa" / "answers.jsonl");
    write_jsonl(questions, qs);
    copy_images(images);
    put_file(kScore / "textvqa" / "TextVQA_0.5.1_val.json", eval / "textvqa" / "TextVQA_0.5.1_val.json");
    return ids(qs, "question_id");
  }
  if (name == "pope") {  // the first 3 questions of each split
    std::vector<Json> qs;
    std::map<std::string, int> per_split;
    for (const auto& q : read_jsonl(kScore / "pope" / "llava_pope_test.jsonl"))
      if (per_split[q["category"].get<std::string>()]++ < 3) qs.push_back(q);
    qs = with_images(qs);
    write_jsonl(questions, qs);
    copy_images(images);
    fs::copy(kScore / "pope" / "coco", eval / "pope" / "coco", fs::copy_options::recursive);
    return ids(qs, "question_id");
  }
  if (name == "mme") {
    // calculation.py needs every task: the fixture's 28 images x 2 questions, each image at the
    // path its question id names inside the release folder.
    fs::create_directories(images.parent_path());
    fs::copy(kScore / "mme" / "MME_Benchmark_release_version", images, fs::copy_options::recursive);
    auto qs = questions_from_answers(kScore / "mme" / "answers.jsonl");
    for (size_t i = 0; i < qs.size(); ++i) {
      const std::string image = qs[i]["question_id"];
      qs[i]["image"] = image;
      if (!fs::exists(images / image)) put_file(kData / "eval" / "images" / kImages[i % kImages.size()], images / image);
    }
    write_jsonl(questions, qs);
    return ids(qs, "question_id");
  }
  if (name == "mmbench") {
    put_file(kData / "eval" / "mmbench.tsv", questions);
    std::vector<Json> out;  // the index column
    std::ifstream in(kData / "eval" / "mmbench.tsv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(std::stoll(line.substr(0, line.find('\t'))));
    return out;
  }
  if (name == "mmvet") {
    const auto qs = read_jsonl(kData / "eval" / "questions.jsonl");
    write_jsonl(questions, qs);
    copy_images(images);
    return ids(qs, "question_id");
  }
  ADD_FAILURE() << "no playground recipe for " << name;
  return {};
}

// merge.jsonl: one answer per question, in question order, with the engine's keys.
void expect_merged(const fs::path& merged, const std::vector<Json>& question_ids, bool mmbench_keys,
                   const std::string& model_id = kCkpt) {
  ASSERT_TRUE(fs::exists(merged)) << merged;
  const auto answers = read_jsonl(merged);
  ASSERT_EQ(answers.size(), question_ids.size()) << merged;
  std::vector<std::string> keys = {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"};
  if (mmbench_keys) keys.insert(keys.end(), {"round_id", "options", "option_char"});
  for (size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i]["question_id"], question_ids[i]) << merged << " line " << i + 1;
    for (const auto& k : keys) EXPECT_TRUE(answers[i].contains(k)) << merged << " line " << i + 1 << " lacks " << k;
    EXPECT_EQ(answers[i].value("model_id", ""), model_id) << merged << " line " << i + 1;
  }
}

class EvalScriptsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name)
      if (c == '/') c = '_';
    dir_ = fs::temp_directory_path() / ("imp_e2e_scripts_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // STAGE=all on the CPU with `chunks` processes (CUDA_VISIBLE_DEVICES=0,1,... only names the chunks).
  // Two new tokens: longer answers of the random model contain tabs, which break MME's tab-separated
  // eval_tool files; the MME scorer rejects those exactly as calculation.py would.
  std::string env(int chunks, const std::string& model = "MODEL_PATH=" + quote(kData / "models" / kCkpt)) const {
    std::string gpus = "0";
    for (int i = 1; i < chunks; ++i) gpus += "," + std::to_string(i);
    return "STAGE=all " + model + " CONV_MODE=phi2 CUDA_VISIBLE_DEVICES=" + gpus +
           " EXTRA_ARGS='--device cpu --max-new-tokens 2' EVAL_DIR=" + quote(dir_) + " IMP=" + quote(IMP_BINARY) + " ";
  }
  fs::path dir_;
};

class OneScript : public EvalScriptsE2E, public ::testing::WithParamInterface<Bench> {};

TEST_P(OneScript, RunsEndToEndInTwoChunks) {
  const Bench& b = GetParam();
  const auto ids = prepare(dir_, b);
  ASSERT_FALSE(ids.empty());
  const Proc r = run(env(2) + "bash " + quote(kScripts / (b.name + ".sh")));
  ASSERT_EQ(r.status, 0) << r.output;
  const fs::path answers = dir_ / b.answers_dir;
  EXPECT_TRUE(fs::exists(answers / "2_0.jsonl")) << r.output;
  EXPECT_TRUE(fs::exists(answers / "2_1.jsonl")) << r.output;
  expect_merged(answers / "merge.jsonl", ids, b.mmbench_keys);
  for (const auto& out : b.outputs) EXPECT_TRUE(fs::exists(dir_ / out)) << out << " not written\n" << r.output;
  if (b.name == "vqav2") {  // every test2015 question in the upload file, unanswered ones with ""
    const Json upload = Json::parse(slurp(dir_ / b.outputs[0]));
    EXPECT_EQ(upload.size(), 6u) << upload.dump();
  }
}

// A missing question file, then a missing image folder: exit 3 and a message naming the path and
// where to get it, before any `imp eval` runs.
TEST_P(OneScript, MissingInputsSayWhereToPutThem) {
  const Bench& b = GetParam();
  Proc r = run(env(1) + "bash " + quote(kScripts / (b.name + ".sh")));
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("missing " + (dir_ / b.questions).string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(see playground/README.md)"), std::string::npos) << r.output;
  if (b.images.empty()) return;
  prepare(dir_, b);
  fs::remove_all(dir_ / b.images);
  r = run(env(1) + "bash " + quote(kScripts / (b.name + ".sh")));
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("missing directory " + (dir_ / b.images).string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / b.answers_dir)) << "imp eval ran without its inputs";
}

INSTANTIATE_TEST_SUITE_P(Scripts, OneScript, ::testing::ValuesIn(benches()),
                         [](const ::testing::TestParamInfo<Bench>& info) { return info.param.name; });

// all.sh over a playground holding every benchmark: each one answered, scored, and in the table.
TEST_F(EvalScriptsE2E, AllShRunsEveryBenchmarkAndFillsTheTable) {
  std::map<std::string, std::vector<Json>> ids;
  for (const auto& b : benches()) ids[b.name] = prepare(dir_, b);
  const Proc r = run(env(1) + "bash " + quote(kScripts / "all.sh"));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const auto& b : benches()) {
    EXPECT_NE(r.output.find("== " + b.name + "\n"), std::string::npos) << b.name << " not run\n" << r.output;
    expect_merged(dir_ / b.answers_dir / "merge.jsonl", ids[b.name], b.mmbench_keys);
    for (const auto& out : b.outputs) EXPECT_TRUE(fs::exists(dir_ / out)) << out << " not written\n" << r.output;
  }
  // The table row: a number or "server" in every column, none left "-".
  const auto row = r.output.find("| " + kCkpt + " |");
  ASSERT_NE(row, std::string::npos) << r.output;
  const std::string line = r.output.substr(row, r.output.find('\n', row) - row);
  EXPECT_EQ(line.find("| - |"), std::string::npos) << line;
}

TEST_F(EvalScriptsE2E, AllShFailsWhenABenchmarkFails) {
  const Bench& mmvet = benches().back();
  prepare(dir_, mmvet);
  fs::remove_all(dir_ / mmvet.images);
  const Proc r = run(env(1) + "bash " + quote(kScripts / "all.sh"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("== mmvet: FAILED (exit 3)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mm-vet/images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| " + kCkpt + " |"), std::string::npos) << "the table is still printed\n" << r.output;
}

// MODEL_PATH a LoRA adapter, MODEL_BASE its base: answers under the adapter's name.
TEST_F(EvalScriptsE2E, LoraAdapterWithModelBase) {
  const Bench& mmvet = benches().back();
  const auto ids = prepare(dir_, mmvet);
  const std::string lora = "gen_phi2_lora";
  const Proc r = run(env(1, "MODEL_PATH=" + quote(kData / "models" / lora) + " MODEL_BASE=" +
                                quote(kData / "models" / kCkpt)) +
                     "bash " + quote(kScripts / "mmvet.sh"));
  ASSERT_EQ(r.status, 0) << r.output;
  expect_merged(dir_ / "mm-vet" / "answers" / "llava-mm-vet" / lora / "merge.jsonl", ids, false, lora);
  EXPECT_TRUE(fs::exists(dir_ / "mm-vet" / "results" / (lora + ".json"))) << r.output;
}

// Without IMP the scripts run build/src/imp of their checkout, then build/imp, then imp on PATH, and
// say how to get one when there is none.
TEST_F(EvalScriptsE2E, ImpDefaultsToTheCheckoutsBuild) {
  const fs::path repo = dir_ / "repo", eval = dir_ / "eval";
  fs::create_directories(repo / "scripts");
  fs::copy(kScripts, repo / "scripts" / "eval", fs::copy_options::recursive);
  const std::string cmd = "env -u IMP PATH=/usr/bin:/bin STAGE=score CKPT=m EVAL_DIR=" + quote(eval) +
                          " ANSWERS=" + quote(kScore / "submit" / "mmvet_answers.jsonl") + " bash " +
                          quote(repo / "scripts" / "eval" / "mmvet.sh");
  for (const char* where : {"build/src/imp", "build/imp"}) {
    fs::create_directories((repo / where).parent_path());
    fs::create_symlink(IMP_BINARY, repo / where);
    const Proc r = run(cmd);
    EXPECT_EQ(r.status, 0) << where << "\n" << r.output;
    EXPECT_TRUE(fs::exists(eval / "mm-vet" / "results" / "m.json")) << where << "\n" << r.output;
    fs::remove_all(eval);
    fs::remove(repo / where);
  }
  if (fs::exists("/usr/bin/imp") || fs::exists("/bin/imp")) GTEST_SKIP() << "an imp is installed on PATH";
  const Proc r = run(cmd);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("no imp executable"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("IMP=<path of imp>"), std::string::npos) << r.output;
}

// VQAv2 / VizWiz on a val split with local annotations: accuracy instead of the server upload.
TEST_F(EvalScriptsE2E, LocalValAccuracyForVqav2AndVizwiz) {
  Json gts = Json::array();  // the evaluator wants exactly 10 human answers per question
  for (int i = 0; i < 10; ++i) gts.push_back({{"answer", i < 3 ? "yes" : "no"}, {"answer_confidence", "yes"}});
  for (const char* name : {"vqav2", "vizwiz"}) {
    const Bench& b = *std::find_if(benches().begin(), benches().end(), [&](const Bench& x) { return x.name == name; });
    prepare(dir_, b);
    Json annotations = Json::array();  // VizWiz: [{image, answers}]; VQAv2: {"annotations": [{question_id, answers}]}
    for (const auto& q : read_jsonl(dir_ / b.questions))
      annotations.push_back(b.name == "vizwiz" ? Json{{"image", q["image"]}, {"answers", gts}}
                                               : Json{{"question_id", q["question_id"]}, {"answers", gts}});
    if (b.name == "vqav2") annotations = Json{{"annotations", annotations}};
    const fs::path file = dir_ / (b.name + "_val_annotations.json");
    write_text(file, annotations.dump());
    const std::string var = b.name == "vqav2" ? "VQAV2_ANNOTATIONS=" : "VIZWIZ_ANNOTATIONS=";
    const Proc r = run(env(1) + var + quote(file) + " bash " + quote(kScripts / (b.name + ".sh")));
    ASSERT_EQ(r.status, 0) << r.output;
    const fs::path results = dir_ / "results" / kCkpt;
    EXPECT_TRUE(fs::exists(results / (b.name + ".json"))) << r.output;
    const std::string summary = slurp(results / (b.name + ".txt"));
    EXPECT_EQ(summary.rfind(b.name + "\t", 0), 0u) << summary;
    EXPECT_EQ(summary.find("server:"), std::string::npos) << summary;
    EXPECT_FALSE(fs::exists(dir_ / b.outputs[0])) << "no upload file for a local val run";
  }
}

}  // namespace
