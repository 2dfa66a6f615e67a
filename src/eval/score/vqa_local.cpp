// Local VQAv2 / VizWiz accuracy from released annotations (val splits): the EvalAI-normalised
// prediction scored with the VQA soft accuracy of m4c_evaluator (TextVQAAccuracyEvaluator), averaged
// over the answer lines in file order. The servers run the official VQA/VizWiz evaluation instead,
// which differs in corner cases (see docs/evaluation-scoring.md).
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "imp/eval/score.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_vqa.h"

namespace imp::eval {
namespace {

std::vector<std::string> answer_strings(const OrderedJson& answers, const std::string& origin) {
  IMP_CHECK(answers.is_array(), origin, ": 'answers' must be a list");
  std::vector<std::string> out;
  for (const auto& a : answers) out.push_back(a.is_object() ? a.at("answer").get<std::string>() : a.get<std::string>());
  return out;
}

ScoreReport score_against(const std::string& name, const ScoreOptions& o,
                          const std::unordered_map<std::string, std::vector<std::string>>& gt,
                          const std::unordered_map<std::string, std::string>& qid_to_key) {
  const auto answers = read_jsonl(o.answers);
  IMP_CHECK(!answers.empty(), o.answers, ": no answers");
  double sum = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    std::string key = id_key(question_id(answers[i], origin));
    if (!qid_to_key.empty()) {
      auto m = qid_to_key.find(key);
      IMP_CHECK(m != qid_to_key.end(), origin, ": question_id not in ", o.question_file);
      key = m->second;
    }
    auto it = gt.find(key);
    IMP_CHECK(it != gt.end(), origin, ": no annotation for question ", question_id(answers[i], origin).dump(), " in ",
              o.annotation_file);
    sum += vqa_accuracy(string_field(answers[i], "text", origin), it->second, origin);
  }
  const double acc = 100.0 * (sum / static_cast<double>(answers.size()));
  ScoreReport r;
  r.metrics = {{"benchmark", name}, {"samples", answers.size()}, {"accuracy", acc}};
  r.headline = acc;
  r.table = name + "  samples " + std::to_string(answers.size()) + "  accuracy " + fixed(acc, 2) +
            "% (local VQA accuracy; the official numbers come from the EvalAI server)\n";
  return r;
}

}  // namespace

ScoreReport score_vqav2(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.annotation_file.empty(), ErrorKind::usage,
                 "vqav2 scoring needs --annotation-file (e.g. v2_mscoco_val2014_annotations.json); test-dev is "
                 "scored by the EvalAI server: use `imp eval convert --benchmark vqav2`");
  const OrderedJson root = read_json_ordered(o.annotation_file);
  IMP_CHECK(root.contains("annotations"), o.annotation_file, ": expected {\"annotations\": [...]}");
  std::unordered_map<std::string, std::vector<std::string>> gt;
  for (const auto& a : root["annotations"]) gt[id_key(a.at("question_id"))] = answer_strings(a.at("answers"), o.annotation_file);
  return score_against("vqav2", o, gt, {});
}

ScoreReport score_vizwiz(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.annotation_file.empty(), ErrorKind::usage,
                 "vizwiz scoring needs --annotation-file val.json (and --question-file, the question JSONL that maps "
                 "question_id to image); the test split is scored by the EvalAI server: use `imp eval convert`");
  const OrderedJson root = read_json_ordered(o.annotation_file);
  IMP_CHECK(root.is_array(), o.annotation_file, ": expected a list of {image, question, answers}");
  std::unordered_map<std::string, std::vector<std::string>> gt;
  for (const auto& a : root) gt["s:" + a.at("image").get<std::string>()] = answer_strings(a.at("answers"), o.annotation_file);
  std::unordered_map<std::string, std::string> qid_to_image;
  if (!o.question_file.empty()) {
    const auto questions = read_jsonl(o.question_file);
    for (size_t i = 0; i < questions.size(); ++i) {
      const std::string origin = o.question_file + ":" + std::to_string(i + 1);
      qid_to_image[id_key(question_id(questions[i], origin))] = "s:" + string_field(questions[i], "image", origin);
    }
  }
  return score_against("vizwiz", o, gt, qid_to_image);
}

const std::vector<std::string>& score_benchmarks() {
  static const std::vector<std::string> names = {"textvqa", "pope", "mme", "sqa", "gqa", "vqav2", "vizwiz"};
  return names;
}

namespace {

ScoreReport dispatch(const ScoreOptions& o) {
  if (o.benchmark == "textvqa") return score_textvqa(o);
  if (o.benchmark == "pope") return score_pope(o);
  if (o.benchmark == "mme") return score_mme(o);
  if (o.benchmark == "sqa") return score_sqa(o);
  if (o.benchmark == "gqa") return score_gqa(o);
  if (o.benchmark == "vqav2") return score_vqav2(o);
  return score_vizwiz(o);
}

}  // namespace

ScoreReport score_benchmark(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.answers.empty(), ErrorKind::usage, "--answers FILE is required (the merged answers JSONL)");
  const auto& names = score_benchmarks();
  if (std::find(names.begin(), names.end(), o.benchmark) != names.end()) {
    try {
      return dispatch(o);
    } catch (const nlohmann::json::exception& e) {  // a field with an unexpected type or a missing key
      IMP_FAIL(o.benchmark, ": unexpected structure in the input files (answers ", o.answers,
               "; see docs/evaluation-scoring.md for the expected files): ", e.what());
    } catch (const std::filesystem::filesystem_error& e) {
      throw Error(o.benchmark + ": " + e.what(), ErrorKind::io);
    }
  }
  std::string all;
  for (const auto& n : score_benchmarks()) all += (all.empty() ? "" : ", ") + n;
  throw Error("--benchmark '" + o.benchmark + "' cannot be scored locally; choose one of: " + all +
                  " (mmbench and mm-vet are scored by their servers: use `imp eval convert`)",
              ErrorKind::usage);
}

}  // namespace imp::eval
