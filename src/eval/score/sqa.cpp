// ScienceQA accuracy as imp_llava/eval/eval_science_qa.py, plus the accuracy over the problems that
// really have an image (the Python "IMG-Accuracy" counts every problem that has a prediction).
#include <unordered_map>

#include "imp/core/fs.h"
#include "imp/eval/score.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_sqa.h"
#include "imp/eval/score_text.h"

namespace imp::eval {
namespace {

constexpr const char* kOptions = "ABCDE";

bool is_option(const std::string& s) { return s.size() == 1 && std::string(kOptions).find(s[0]) != std::string::npos; }

}  // namespace

std::string sqa_parse_answer(const std::string& text) {
  if (is_option(text)) return text;
  if (py::length(text) >= 3 && is_option(text.substr(0, 1)) && text.compare(1, 2, ". ") == 0) return text.substr(0, 1);
  // re.findall(r'The answer is ([A-Z]).', text): non-overlapping, '.' is any character but '\n'.
  const std::string lead = "The answer is ";
  std::string found;
  int matches = 0;
  size_t pos = 0;
  while ((pos = text.find(lead, pos)) != std::string::npos) {
    const size_t letter = pos + lead.size();
    if (letter + 1 < text.size() && text[letter] >= 'A' && text[letter] <= 'Z' && text[letter + 1] != '\n') {
      if (++matches == 1) found = text.substr(letter, 1);
      pos = letter + 2;  // the next match cannot start inside the consumed character's continuation bytes
    } else {
      ++pos;
    }
  }
  return matches == 1 ? found : "FAILED";
}

int sqa_pred_index(const std::string& answer, size_t n_choices) {
  for (size_t i = 0; i < n_choices && i < 5; ++i)
    if (answer == std::string(1, kOptions[i])) return static_cast<int>(i);
  return -1;
}

ScoreReport score_sqa(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.base_dir.empty(), ErrorKind::usage,
                 "sqa needs --base-dir playground/data/eval/scienceqa (pid_splits.json, problems.json)");
  const std::string splits_path = join_path(o.base_dir, "pid_splits.json");
  const std::string problems_path = join_path(o.base_dir, "problems.json");
  const OrderedJson splits = read_json_ordered(splits_path);
  IMP_CHECK(splits.contains(o.split), splits_path, ": no split '", o.split, "'");
  const OrderedJson problems_root = read_json_ordered(problems_path);
  std::unordered_map<std::string, const OrderedJson*> problems;
  for (auto it = problems_root.begin(); it != problems_root.end(); ++it) problems[it.key()] = &it.value();

  std::unordered_map<std::string, std::string> predictions;  // later lines win, as in the dict
  const auto answers = read_jsonl(o.answers);
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    predictions[id_key(question_id(answers[i], origin))] = string_field(answers[i], "text", origin);
  }

  size_t total = 0, correct = 0, predicted = 0, predicted_correct = 0, image = 0, image_correct = 0;
  for (const auto& pid_json : splits[o.split]) {
    const std::string pid = pid_json.get<std::string>();
    auto p = problems.find(pid);
    IMP_CHECK(p != problems.end(), problems_path, ": no problem '", pid, "' (listed in ", splits_path, ")");
    const OrderedJson& prob = *p->second;
    auto pred = predictions.find("s:" + pid);
    const bool has_pred = pred != predictions.end();
    const std::string text = has_pred ? pred->second : "FAILED";
    const int idx = sqa_pred_index(sqa_parse_answer(text), prob.at("choices").size());
    const bool ok = idx == prob.at("answer").get<int>();
    ++total;
    correct += ok;
    predicted += has_pred;
    predicted_correct += has_pred && ok;
    const bool has_image = prob.contains("image") && !prob["image"].is_null();
    image += has_image;
    image_correct += has_image && ok;
  }
  IMP_CHECK(total > 0, splits_path, ": split '", o.split, "' is empty");
  auto pct = [](size_t a, size_t b) { return b ? OrderedJson(static_cast<double>(a) / static_cast<double>(b) * 100) : OrderedJson(nullptr); };
  ScoreReport r;
  r.metrics = {{"benchmark", "sqa"},
               {"split", o.split},
               {"total", total},
               {"correct", correct},
               {"accuracy", pct(correct, total)},
               {"predicted", predicted},
               {"img_accuracy_python", pct(predicted_correct, predicted)},
               {"image_problems", image},
               {"img_accuracy", pct(image_correct, image)}};
  if (image) r.headline = r.metrics["img_accuracy"].get<double>();
  auto show = [](const OrderedJson& v) { return v.is_null() ? std::string("n/a") : fixed(v.get<double>(), 2) + "%"; };
  r.table = "ScienceQA " + o.split + "  total " + std::to_string(total) + "  correct " + std::to_string(correct) +
            "  accuracy " + show(r.metrics["accuracy"]) + "\n  IMG-accuracy (problems with an image, " +
            std::to_string(image) + "): " + show(r.metrics["img_accuracy"]) +
            "\n  IMG-accuracy as eval_science_qa.py prints it (problems with a prediction, " + std::to_string(predicted) +
            "): " + show(r.metrics["img_accuracy_python"]) + "\n";
  return r;
}

}  // namespace imp::eval
