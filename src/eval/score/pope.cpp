// POPE as imp_llava/eval/eval_pope.py: for every coco_pope_<split>.json in the annotation dir
// (sorted here; os.listdir order in Python), the answers whose question has that category are paired
// in file order with the label lines. "yes" is the positive class.
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "imp/core/fs.h"
#include "imp/eval/score.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_pope.h"
#include "imp/eval/score_text.h"

namespace imp::eval {

bool pope_answer_is_no(const std::string& answer) {
  std::string text = answer;
  const size_t dot = text.find('.');
  if (dot != std::string::npos) text = text.substr(0, dot);  // only the first sentence
  text = py::replace(text, ",", "");
  for (const std::string& w : py::split(text, " "))
    if (w == "No" || w == "not" || w == "no") return true;
  return false;
}

PopeMetrics pope_metrics(const std::vector<bool>& pred_yes, const std::vector<bool>& label_yes) {
  PopeMetrics m;
  m.samples = pred_yes.size();
  const size_t n = std::min(pred_yes.size(), label_yes.size());  // zip() stops at the shorter list
  for (size_t i = 0; i < n; ++i) {
    if (pred_yes[i] && label_yes[i]) ++m.tp;
    else if (pred_yes[i]) ++m.fp;
    else if (!label_yes[i]) ++m.tn;
    else ++m.fn;
  }
  const auto yes = static_cast<double>(std::count(pred_yes.begin(), pred_yes.end(), true));
  if (!pred_yes.empty()) m.yes_ratio = yes / static_cast<double>(pred_yes.size());
  if (m.tp + m.fp) m.precision = static_cast<double>(m.tp) / static_cast<double>(m.tp + m.fp);
  if (m.tp + m.fn) m.recall = static_cast<double>(m.tp) / static_cast<double>(m.tp + m.fn);
  if (m.precision && m.recall && *m.precision + *m.recall > 0)
    m.f1 = 2 * *m.precision * *m.recall / (*m.precision + *m.recall);
  if (n) m.accuracy = static_cast<double>(m.tp + m.tn) / static_cast<double>(n);
  return m;
}

namespace {

OrderedJson opt(const std::optional<double>& v) { return v ? OrderedJson(*v) : OrderedJson(nullptr); }
std::string opt_text(const std::optional<double>& v) { return v ? fixed(*v * 100, 2) : std::string("n/a"); }

}  // namespace

ScoreReport score_pope(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.annotation_dir.empty() && !o.question_file.empty(), ErrorKind::usage,
                 "pope needs --annotation-dir (the POPE 'coco' folder with coco_pope_<split>.json) and "
                 "--question-file llava_pope_test.jsonl");
  IMP_CHECK_KIND(is_directory(o.annotation_dir), ErrorKind::io, o.annotation_dir,
                 ": not a directory (put POPE's output/coco files there)");
  std::unordered_map<std::string, std::string> category;
  const auto questions = read_jsonl(o.question_file);
  for (size_t i = 0; i < questions.size(); ++i) {
    const std::string origin = o.question_file + ":" + std::to_string(i + 1);
    category[id_key(question_id(questions[i], origin))] = string_field(questions[i], "category", origin);
  }
  const auto answers = read_jsonl(o.answers);
  std::vector<std::string> answer_category;
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    auto it = category.find(id_key(question_id(answers[i], origin)));
    IMP_CHECK(it != category.end(), origin, ": question_id ", question_id(answers[i], origin).dump(),
              " is not in ", o.question_file);
    answer_category.push_back(it->second);
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(o.annotation_dir)) {
    const std::string name = entry.path().filename().string();
    IMP_CHECK(name.rfind("coco_pope_", 0) == 0 && name.size() > 15 && name.substr(name.size() - 5) == ".json",
              o.annotation_dir, ": unexpected file '", name,
              "' (eval_pope.py requires every file to be coco_pope_<split>.json)");
    files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  IMP_CHECK(!files.empty(), o.annotation_dir, ": no coco_pope_<split>.json files");

  ScoreReport r;
  r.metrics = {{"benchmark", "pope"}, {"splits", OrderedJson::object()}};
  r.table = "POPE split      samples  acc     prec    recall  F1      yes%\n";
  OrderedJson notes = OrderedJson::array();
  double f1_sum = 0.0;
  size_t f1_count = 0;
  for (const std::string& file : files) {
    const std::string split = file.substr(10, file.size() - 15);
    const std::string path = join_path(o.annotation_dir, file);
    std::vector<bool> labels;
    for (const Json& l : read_jsonl(path)) labels.push_back(string_field(l, "label", path) != "no");
    std::vector<bool> preds;
    for (size_t i = 0; i < answers.size(); ++i)
      if (answer_category[i] == split)
        preds.push_back(!pope_answer_is_no(string_field(answers[i], "text", o.answers + ":" + std::to_string(i + 1))));
    const PopeMetrics m = pope_metrics(preds, labels);
    if (preds.size() != labels.size())
      notes.push_back(split + ": " + std::to_string(preds.size()) + " answers but " + std::to_string(labels.size()) +
                      " labels; pairs beyond the shorter list are ignored (zip)");
    if (!m.f1) notes.push_back(split + ": precision, recall or F1 undefined (division by zero; Python raises)");
    r.metrics["splits"][split] = {{"samples", m.samples}, {"TP", m.tp}, {"FP", m.fp}, {"TN", m.tn}, {"FN", m.fn},
                                  {"accuracy", opt(m.accuracy)}, {"precision", opt(m.precision)},
                                  {"recall", opt(m.recall)}, {"f1", opt(m.f1)}, {"yes_ratio", opt(m.yes_ratio)}};
    if (m.f1) {
      f1_sum += *m.f1;
      ++f1_count;
    }
    std::string row = split;
    row.resize(std::max<size_t>(row.size() + 1, 16), ' ');
    std::string n = std::to_string(m.samples);
    n.resize(9, ' ');
    r.table += row + n + opt_text(m.accuracy) + "   " + opt_text(m.precision) + "   " + opt_text(m.recall) + "   " +
               opt_text(m.f1) + "   " + opt_text(m.yes_ratio) + "\n";
  }
  const bool all_f1 = f1_count == files.size();
  if (all_f1) r.headline = 100 * f1_sum / static_cast<double>(f1_count);
  r.metrics["mean_f1"] = all_f1 ? OrderedJson(f1_sum / static_cast<double>(f1_count)) : OrderedJson(nullptr);
  r.table += "mean F1 " + (all_f1 ? fixed(100 * f1_sum / static_cast<double>(f1_count), 2) : std::string("n/a")) +
             " (the README's POPE number, LLaVA convention)\n";
  if (!notes.empty()) r.metrics["notes"] = notes;
  return r;
}

}  // namespace imp::eval
