// Scorers against the official Python code: tests/data/eval_score/expected_* come from
// scripts/make_eval_score_fixtures.py, which runs m4c_evaluator.py, eval_textvqa.py, eval_pope.py,
// eval_science_qa.py, convert_answer_to_mme.py + calculation.py and GQA's eval.py on the committed
// tricky inputs. Numbers must match exactly (same operations in the same order).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/eval/score.h"
#include "imp/eval/score_mme.h"
#include "imp/eval/score_sqa.h"
#include "imp/eval/score_vqa.h"

namespace {

std::string data(const std::string& rel) { return std::string(IMP_TEST_DATA) + "/eval_score/" + rel; }
imp::Json expected(const std::string& rel) { return imp::read_json_file(data(rel)); }
double num(const imp::eval::OrderedJson& j) { return j.get<double>(); }

TEST(ScoreGolden, EvalAIProcessorStagesMatchPython) {
  const auto cases = expected("expected_evalai.json")["cases"];
  ASSERT_GT(cases.size(), 150u);
  for (const auto& c : cases) {
    const std::string in = c["input"];
    SCOPED_TRACE("input: '" + in + "'");
    EXPECT_EQ(imp::eval::evalai_word_tokenize(in), c["word_tokenize"].get<std::string>());
    EXPECT_EQ(imp::eval::evalai_process(in), c["output"].get<std::string>());
    EXPECT_EQ(imp::eval::evalai_process_punctuation(in), c["punctuation_raw"].get<std::string>());
    EXPECT_EQ(imp::eval::evalai_process_digit_article(in), c["digit_article_raw"].get<std::string>());
  }
}

TEST(ScoreGolden, VqaAccuracyMatchesPython) {
  for (const auto& c : expected("expected_vqa_accuracy.json")["cases"]) {
    const std::string pred = c["prediction"];
    const auto gts = c["gt_answers"].get<std::vector<std::string>>();
    SCOPED_TRACE("prediction: '" + pred + "'");
    EXPECT_EQ(imp::eval::vqa_accuracy(pred, gts, "case"), c["accuracy"].get<double>());
    auto scores = imp::eval::vqa_answer_scores(gts, "case");
    std::sort(scores.begin(), scores.end());
    ASSERT_EQ(scores.size(), c["answer_scores"].size());
    for (size_t i = 0; i < scores.size(); ++i) {
      EXPECT_EQ(scores[i].first, c["answer_scores"][i][0].get<std::string>());
      EXPECT_EQ(scores[i].second, c["answer_scores"][i][1].get<double>());
    }
  }
}

// Local VQAv2 / VizWiz accuracy: the per-question scores m4c's evaluator gave, averaged in order.
TEST(ScoreGolden, LocalVqav2AndVizwizAccuracy) {
  const auto cases = expected("expected_vqa_accuracy.json")["cases"];
  const auto dir = std::filesystem::temp_directory_path() / "imp_score_vqa_local";
  std::filesystem::create_directories(dir);
  imp::Json vqav2 = {{"annotations", imp::Json::array()}}, vizwiz = imp::Json::array();
  std::ofstream answers(dir / "answers.jsonl"), questions(dir / "questions.jsonl");
  double sum = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    imp::Json gts = imp::Json::array();
    for (const auto& a : cases[i]["gt_answers"]) gts.push_back({{"answer", a}, {"answer_confidence", "yes"}});
    vqav2["annotations"].push_back({{"question_id", 100 + i}, {"answers", gts}});
    vizwiz.push_back({{"image", "VizWiz_val_" + std::to_string(i) + ".jpg"}, {"answers", gts}});
    answers << imp::Json{{"question_id", 100 + i}, {"prompt", "q"}, {"text", cases[i]["prediction"]}}.dump() << "\n";
    questions << imp::Json{{"question_id", 100 + i}, {"image", "VizWiz_val_" + std::to_string(i) + ".jpg"}}.dump() << "\n";
    sum += cases[i]["accuracy"].get<double>();
  }
  answers.close();
  questions.close();
  std::ofstream(dir / "vqav2.json") << vqav2.dump();
  std::ofstream(dir / "vizwiz.json") << vizwiz.dump();
  imp::eval::ScoreOptions o;
  o.answers = (dir / "answers.jsonl").string();
  o.benchmark = "vqav2";
  o.annotation_file = (dir / "vqav2.json").string();
  EXPECT_EQ(num(imp::eval::score_benchmark(o).metrics["accuracy"]), 100.0 * (sum / static_cast<double>(cases.size())));
  o.benchmark = "vizwiz";
  o.annotation_file = (dir / "vizwiz.json").string();
  o.question_file = (dir / "questions.jsonl").string();
  EXPECT_EQ(num(imp::eval::score_benchmark(o).metrics["accuracy"]), 100.0 * (sum / static_cast<double>(cases.size())));
  std::filesystem::remove_all(dir);
}

TEST(ScoreGolden, TextVqa) {
  imp::eval::ScoreOptions o;
  o.benchmark = "textvqa";
  o.answers = data("textvqa/answers.jsonl");
  o.annotation_file = data("textvqa/TextVQA_0.5.1_val.json");
  const auto r = imp::eval::score_benchmark(o);
  const auto e = expected("textvqa/expected.json");
  EXPECT_EQ(num(r.metrics["accuracy"]), e["accuracy"].get<double>());
  EXPECT_EQ(r.metrics["samples"].get<size_t>(), e["samples"].get<size_t>());
  EXPECT_EQ(r.headline, e["accuracy"].get<double>());
}

TEST(ScoreGolden, Pope) {
  imp::eval::ScoreOptions o;
  o.benchmark = "pope";
  o.answers = data("pope/answers.jsonl");
  o.annotation_dir = data("pope/coco");
  o.question_file = data("pope/llava_pope_test.jsonl");
  const auto r = imp::eval::score_benchmark(o);
  const auto e = expected("pope/expected.json")["splits"];
  ASSERT_EQ(r.metrics["splits"].size(), e.size());
  double f1 = 0;
  for (const auto& [split, m] : e.items()) {
    SCOPED_TRACE(split);
    const auto& got = r.metrics["splits"][split];
    for (const char* k : {"samples", "TP", "FP", "TN", "FN"}) EXPECT_EQ(got[k].get<long>(), m[k].get<long>()) << k;
    for (const char* k : {"accuracy", "precision", "recall", "f1", "yes_ratio"}) EXPECT_EQ(num(got[k]), m[k].get<double>()) << k;
    f1 += m["f1"].get<double>();
  }
  EXPECT_DOUBLE_EQ(num(r.metrics["mean_f1"]), f1 / 3);
  EXPECT_DOUBLE_EQ(*r.headline, 100 * f1 / 3);
}

TEST(ScoreGolden, Mme) {
  imp::eval::ScoreOptions o;
  o.benchmark = "mme";
  o.answers = data("mme/answers.jsonl");
  o.base_dir = data("mme/MME_Benchmark_release_version");
  const auto r = imp::eval::score_benchmark(o);
  const auto e = expected("mme/expected.json");
  EXPECT_EQ(num(r.metrics["perception"]["total"]), e["perception"].get<double>());
  EXPECT_EQ(num(r.metrics["cognition"]["total"]), e["cognition"].get<double>());
  EXPECT_EQ(r.headline, e["perception"].get<double>());
  for (const auto& [task, score] : e["tasks"].items()) {
    const bool perception = r.metrics["perception"]["tasks"].contains(task);
    const auto& t = r.metrics[perception ? "perception" : "cognition"]["tasks"][task];
    EXPECT_EQ(num(t["score"]), score.get<double>()) << task;
    EXPECT_EQ(num(t["acc"]), e["acc"][task].get<double>() * 100) << task;
  }
  // The intermediate eval_tool files are byte-identical to convert_answer_to_mme.py's.
  const auto converted = imp::eval::mme_convert_answers(o.answers, o.base_dir);
  ASSERT_EQ(converted.size(), e["converted"].size());
  for (const auto& [task, text] : e["converted"].items()) EXPECT_EQ(converted.at(task), text.get<std::string>()) << task;
}

TEST(ScoreGolden, ScienceQa) {
  imp::eval::ScoreOptions o;
  o.benchmark = "sqa";
  o.answers = data("sqa/answers.jsonl");
  o.base_dir = data("sqa");
  const auto r = imp::eval::score_benchmark(o);
  const auto e = expected("sqa/expected.json");
  EXPECT_EQ(r.metrics["total"].get<long>(), e["total"].get<long>());
  EXPECT_EQ(r.metrics["correct"].get<long>(), e["correct"].get<long>());
  EXPECT_EQ(num(r.metrics["accuracy"]), e["accuracy"].get<double>());
  EXPECT_EQ(r.metrics["predicted"].get<long>(), e["predicted"].get<long>());
  EXPECT_EQ(num(r.metrics["img_accuracy_python"]), e["img_accuracy_python"].get<double>());
  // Accuracy over the problems with an image: 1 2 4 5 7 8 10 11 12 14 15 16 17 18 20 -> correct 1 4 7 15 17.
  EXPECT_EQ(r.metrics["image_problems"].get<long>(), 15);
  EXPECT_EQ(num(r.metrics["img_accuracy"]), 5.0 / 15 * 100);
  EXPECT_EQ(r.headline, 5.0 / 15 * 100);
  // Per-problem parsing.
  const auto problems = imp::read_json_file(data("sqa/problems.json"));
  std::map<std::string, std::string> texts;
  for (const auto& line : {std::string("answers.jsonl")}) {
    const std::string all = imp::read_text_file(data("sqa/" + line));
    size_t start = 0;
    while (start < all.size()) {
      const size_t end = all.find('\n', start);
      const auto j = imp::Json::parse(all.substr(start, end - start));
      if (j["question_id"].is_string()) texts[j["question_id"]] = j["text"];
      start = end + 1;
    }
  }
  for (const auto& [pid, parsed] : e["parsed"].items()) {
    const std::string text = texts.count(pid) ? texts[pid] : "FAILED";
    EXPECT_EQ(imp::eval::sqa_parse_answer(text), parsed.get<std::string>()) << pid;
    EXPECT_EQ(imp::eval::sqa_pred_index(imp::eval::sqa_parse_answer(text), problems[pid]["choices"].size()),
              e["pred_idx"][pid].get<int>())
        << pid;
  }
}

TEST(ScoreGolden, Gqa) {
  imp::eval::ScoreOptions o;
  o.benchmark = "gqa";
  o.answers = data("gqa/answers.jsonl");
  o.question_file = data("gqa/testdev_balanced_questions.json");
  const auto r = imp::eval::score_benchmark(o);
  const auto e = expected("gqa/expected.json");
  for (const char* k : {"binary", "open", "accuracy", "validity", "plausibility", "distribution"})
    EXPECT_EQ(num(r.metrics[k]), e[k].get<double>()) << k;
  EXPECT_EQ(r.headline, e["accuracy"].get<double>());
  for (const char* k : {"accuracyPerStructuralType", "accuracyPerSemanticType", "accuracyPerSteps", "accuracyPerLength"}) {
    ASSERT_EQ(r.metrics[k].size(), e[k].size()) << k;
    for (const auto& [t, v] : e[k].items()) {
      EXPECT_EQ(num(r.metrics[k][t]["accuracy"]), v["accuracy"].get<double>()) << k << " " << t;
      EXPECT_EQ(r.metrics[k][t]["questions"].get<long>(), v["questions"].get<long>()) << k << " " << t;
    }
  }
}

}  // namespace
