// TextVQA accuracy as imp_llava/eval/eval_textvqa.py: results are matched to annotations by
// (image id, lower-cased question recovered from the prompt), scored with the VQA soft accuracy.
#include <unordered_map>

#include "imp/eval/score.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_text.h"
#include "imp/eval/score_textvqa.h"
#include "imp/eval/score_vqa.h"

namespace imp::eval {

std::string textvqa_prompt_question(const std::string& prompt, const std::string& origin) {
  const std::vector<std::string> lines = py::split(prompt, "\n");
  std::string question;
  if (prompt.rfind("OCR tokens: ", 0) == 0) {
    // re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL): first "Question: " that has a
    // later " Short answer:", shortest span.
    const size_t q = prompt.find("Question: ");
    const size_t a = q == std::string::npos ? q : prompt.find(" Short answer:", q + 10);
    IMP_CHECK(a != std::string::npos, origin, ": prompt starts with 'OCR tokens: ' but has no 'Question: ... Short answer:'");
    question = prompt.substr(q + 10, a - (q + 10));
  } else if (py::contains(prompt, "Reference OCR token: ") && lines.size() == 3) {
    question = prompt.rfind("Reference OCR token:", 0) == 0 ? lines[1] : lines[0];
  } else if (lines.size() == 2) {
    question = lines[0];
  } else {
    IMP_FAIL(origin, ": cannot find the question in the prompt (eval_textvqa.py's prompt_processor expects 2 lines, "
                     "3 lines with 'Reference OCR token: ', or 'OCR tokens: ... Question: ... Short answer:'); got ",
             lines.size(), " lines");
  }
  return py::lower(question);
}

ScoreReport score_textvqa(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.annotation_file.empty(), ErrorKind::usage,
                 "textvqa needs --annotation-file TextVQA_0.5.1_val.json (not the question .jsonl)");
  const OrderedJson root = read_json_ordered(o.annotation_file);
  IMP_CHECK(root.is_object() && root.contains("data") && root["data"].is_array(), o.annotation_file,
            ": expected an object with a 'data' list (TextVQA_0.5.1_val.json)");
  std::unordered_map<std::string, std::vector<std::string>> gt;  // later duplicates win, as in the dict
  for (const auto& a : root["data"]) {
    IMP_CHECK(a.contains("image_id") && a.contains("question") && a.contains("answers"), o.annotation_file,
              ": annotation without image_id/question/answers");
    std::vector<std::string> answers;
    for (const auto& s : a["answers"]) answers.push_back(s.get<std::string>());
    gt[id_key(a["image_id"]) + "\n" + py::lower(a["question"].get<std::string>())] = std::move(answers);
  }
  const std::vector<Json> results = read_jsonl(o.answers);
  IMP_CHECK(!results.empty(), o.answers, ": no answers (the official script divides by zero)");
  double sum = 0.0;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    const std::string question = textvqa_prompt_question(string_field(results[i], "prompt", origin), origin);
    auto it = gt.find(id_key(question_id(results[i], origin)) + "\n" + question);
    IMP_CHECK(it != gt.end(), origin, ": no annotation for question_id ", question_id(results[i], origin).dump(),
              " and question '", question, "' in ", o.annotation_file);
    sum += vqa_accuracy(string_field(results[i], "text", origin), it->second, origin);
  }
  const double accuracy = 100.0 * (sum / static_cast<double>(results.size()));
  ScoreReport r;
  r.metrics = {{"benchmark", "textvqa"}, {"samples", results.size()}, {"accuracy", accuracy}};
  r.headline = accuracy;
  r.table = "TextVQA  samples " + std::to_string(results.size()) + "  accuracy " + fixed(accuracy, 2) + "%\n";
  return r;
}

}  // namespace imp::eval
