// MME conversion and calculation; see score_mme.h.
#include <filesystem>
#include <map>
#include <tuple>

#include "imp/core/fs.h"
#include "imp/eval/score.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_mme.h"
#include "imp/eval/score_text.h"

namespace imp::eval {
namespace {

namespace fs = std::filesystem;

// Python text-mode reading: "\r\n", "\r" and "\n" all end a line and become "\n"; lines keep it.
std::vector<std::string> read_lines_universal(const std::string& text) {
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      lines.push_back(cur + "\n");
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

using GtKey = std::tuple<std::string, std::string, std::string>;  // category, file, question

std::map<GtKey, std::string> load_ground_truth(const std::string& root) {
  IMP_CHECK_KIND(is_directory(root), ErrorKind::io, root,
                 ": not a directory; put MME's MME_Benchmark_release_version there (see playground/README.md)");
  std::map<GtKey, std::string> gt;
  for (const auto& cat : fs::directory_iterator(root)) {
    if (!cat.is_directory()) continue;
    const std::string category = cat.path().filename().string();
    fs::path qa_dir = cat.path();
    if (fs::exists(cat.path() / "images")) qa_dir = cat.path() / "questions_answers_YN";
    IMP_CHECK_KIND(fs::is_directory(qa_dir), ErrorKind::io, qa_dir.string(), ": missing (MME layout: <category>/"
                   "questions_answers_YN/*.txt next to <category>/images, or the .txt files in <category>/)");
    for (const auto& f : fs::directory_iterator(qa_dir)) {
      const std::string file = f.path().filename().string();
      if (file.size() < 4 || file.substr(file.size() - 4) != ".txt") continue;
      for (const std::string& line : read_lines_universal(read_text_file(f.path().string()))) {
        const auto fields = py::split(py::strip(line), "\t");
        IMP_CHECK(fields.size() == 2, f.path().string(), ": expected 'question<TAB>answer' lines, got '", line, "'");
        gt[{category, file, fields[0]}] = fields[1];
      }
    }
  }
  return gt;
}

}  // namespace

std::string mme_parse_prediction(const std::string& lowered) {
  if (lowered == "yes" || lowered == "no") return lowered;
  // pred_ans[:4] counts code points.
  size_t bytes = 0;
  for (int k = 0; k < 4 && bytes < lowered.size(); ++k) {
    size_t n = 1;
    py::decode(lowered, bytes, &n);
    bytes += n;
  }
  const std::string prefix = lowered.substr(0, bytes);
  if (py::contains(prefix, "yes")) return "yes";
  if (py::contains(prefix, "no")) return "no";
  return "other";
}

std::map<std::string, std::string> mme_convert_answers(const std::string& answers_path, const std::string& mme_root) {
  const auto gt = load_ground_truth(mme_root);
  std::map<std::string, std::string> out;
  const auto answers = read_jsonl(answers_path);
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = answers_path + ":" + std::to_string(i + 1);
    const std::string qid = string_field(answers[i], "question_id", origin);
    const std::string category = py::split(qid, "/").front();
    const std::string file = py::split(py::split(qid, "/").back(), ".").front() + ".txt";
    std::string prompt = string_field(answers[i], "prompt", origin);
    const std::string suffix = "Answer the question using a single word or phrase.";
    if (py::contains(prompt, suffix)) prompt = py::strip(py::replace(prompt, suffix, ""));
    if (!py::contains(prompt, "Please answer yes or no.")) {
      prompt += " Please answer yes or no.";
      if (!gt.count({category, file, prompt}))
        prompt = py::replace(prompt, " Please answer yes or no.", "  Please answer yes or no.");
    }
    auto it = gt.find({category, file, prompt});
    IMP_CHECK(it != gt.end(), origin, ": no ground truth for category '", category, "', file '", file,
              "', question '", prompt, "' under ", mme_root);
    out[category] += file + "\t" + prompt + "\t" + it->second + "\t" + string_field(answers[i], "text", origin) + "\n";
  }
  return out;
}

MmeTaskScore mme_task_score(const std::string& task, const std::string& text, const std::string& origin) {
  const std::vector<std::string> lines = read_lines_universal(text);
  MmeTaskScore s;
  s.task = task;
  size_t correct = 0, both = 0;
  for (size_t start = 0; start < lines.size(); start += 2) {  // one image, two questions
    IMP_CHECK(start + 1 < lines.size(), origin, ": odd number of lines; MME pairs two questions per image");
    int img_correct = 0;
    for (size_t k = start; k < start + 2; ++k) {
      const auto fields = py::split(lines[k], "\t");
      IMP_CHECK(fields.size() == 4, origin, ":", k + 1, ": expected 4 tab-separated fields, got ", fields.size(),
                " (a tab or line break inside the model answer breaks calculation.py the same way)");
      const std::string gt_ans = py::lower(fields[2]);
      IMP_CHECK(gt_ans == "yes" || gt_ans == "no", origin, ":", k + 1, ": ground truth must be yes/no, got '",
                fields[2], "'");
      const std::string pred = mme_parse_prediction(py::lower(fields[3]));
      if (pred == gt_ans) {
        ++img_correct;
        ++correct;
      }
      s.other += pred == "other";
      ++s.questions;
    }
    both += img_correct == 2;
    ++s.images;
  }
  IMP_CHECK(s.images > 0, origin, ": no answers (calculation.py divides by zero)");
  s.acc = static_cast<double>(correct) / static_cast<double>(s.questions);
  s.acc_plus = static_cast<double>(both) / static_cast<double>(s.images);
  s.score = s.acc * 100 + s.acc_plus * 100;
  return s;
}

const std::vector<std::string>& mme_perception_tasks() {
  static const std::vector<std::string> t = {"existence", "count",    "position", "color",   "posters",
                                             "celebrity", "scene",    "landmark", "artwork", "OCR"};
  return t;
}
const std::vector<std::string>& mme_cognition_tasks() {
  static const std::vector<std::string> t = {"commonsense_reasoning", "numerical_calculation", "text_translation",
                                             "code_reasoning"};
  return t;
}

ScoreReport score_mme(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.base_dir.empty(), ErrorKind::usage,
                 "mme needs --base-dir playground/data/eval/MME/MME_Benchmark_release_version (ground truth)");
  const auto texts = mme_convert_answers(o.answers, o.base_dir);
  if (!o.mme_results_dir.empty()) {
    fs::create_directories(o.mme_results_dir);
    for (const auto& [category, text] : texts) atomic_write(join_path(o.mme_results_dir, category + ".txt"), text);
  }
  ScoreReport r;
  r.metrics = {{"benchmark", "mme"}};
  for (const auto& [group, tasks] : {std::pair<const char*, const std::vector<std::string>*>{"perception", &mme_perception_tasks()},
                                     {"cognition", &mme_cognition_tasks()}}) {
    OrderedJson g = {{"total", 0.0}, {"tasks", OrderedJson::object()}};
    double total = 0;
    r.table += std::string(group == std::string("perception") ? "MME Perception" : "MME Cognition") + "\n";
    for (const std::string& task : *tasks) {
      auto it = texts.find(task);
      IMP_CHECK(it != texts.end(), o.answers, ": no answers for MME task '", task,
                "' (calculation.py needs every task file)");
      const MmeTaskScore s = mme_task_score(task, it->second, o.answers + " [" + task + "]");
      total += s.score;
      g["tasks"][task] = {{"acc", s.acc * 100},         {"acc_plus", s.acc_plus * 100}, {"score", s.score},
                          {"questions", s.questions}, {"images", s.images},           {"other", s.other}};
      std::string name = "  " + task;
      name.resize(26, ' ');
      std::string value = fixed(s.score, 2);
      value.insert(0, value.size() < 7 ? 7 - value.size() : 0, ' ');
      r.table += name + value + "  (acc " + fixed(s.acc * 100, 2) + ", acc+ " + fixed(s.acc_plus * 100, 2) + ")\n";
    }
    g["total"] = total;
    std::string value = fixed(total, 2);
    value.insert(0, value.size() < 7 ? 7 - value.size() : 0, ' ');
    r.table += "  total                   " + value + "\n";
    if (group == std::string("perception")) r.headline = total;
    r.metrics[group] = g;
  }
  return r;
}

}  // namespace imp::eval
