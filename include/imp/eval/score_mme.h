// MME in two steps like LLaVA's pipeline: convert_answer_to_mme.py (answers JSONL + ground truth
// -> eval_tool's "<category>.txt" text, lines "file\tprompt\tGT\tprediction") and the official
// eval_tool/calculation.py, which re-reads those lines (so a tab or line break inside a model answer
// has the same effect as in Python: an error).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace imp::eval {

// calculation.py's parse_pred_ans on a lower-cased prediction: "yes"/"no" if exact, else "yes" if the
// first 4 characters contain "yes", else "no" if they contain "no", else "other".
std::string mme_parse_prediction(const std::string& lowered);

// convert_answer_to_mme.py: category -> file text; `mme_root` is MME_Benchmark_release_version.
std::map<std::string, std::string> mme_convert_answers(const std::string& answers_path, const std::string& mme_root);

struct MmeTaskScore {
  std::string task;
  double acc = 0, acc_plus = 0, score = 0;
  size_t questions = 0, images = 0, other = 0;
};
// calculation.py on one category's text (`origin` names it in errors).
MmeTaskScore mme_task_score(const std::string& task, const std::string& text, const std::string& origin);

const std::vector<std::string>& mme_perception_tasks();
const std::vector<std::string>& mme_cognition_tasks();

}  // namespace imp::eval
