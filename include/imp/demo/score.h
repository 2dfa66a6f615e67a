// `imp demo-score`: exact-match accuracy of model_vqa_loader answer files against the demo's ground
// truth, per category and overall, with the chance level (uniform guess over the category's answers)
// and the majority-answer baseline. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace imp::demo {

// Lower-case, punctuation to spaces, articles (a, an, the) dropped, number words zero..ten to digits,
// whitespace collapsed: "The Red." -> "red", "Two" -> "2".
std::string normalize_answer(const std::string& answer);

struct CategoryScore {
  std::string name;
  int64_t questions = 0, correct = 0, missing = 0;  // missing: no answer line for the question
  double chance = -1.0;                             // < 0: unknown (no categories.json)
  double majority = 0.0;                            // share of the most common ground-truth answer
  double accuracy() const { return questions ? static_cast<double>(correct) / static_cast<double>(questions) : 0.0; }
};

struct ScoreReport {
  std::vector<CategoryScore> categories;  // in categories.json order, then others by name
  CategoryScore overall;
  int64_t extra = 0;                      // answers whose question_id is not in the ground truth
};

// answers: JSON Lines {"question_id", "text"} (model_vqa_loader; "answer" is accepted too);
// gt: JSON Lines {"question_id", "answer", "category"}; categories: the demo's categories.json
// ("" = none: chance levels unknown).
ScoreReport score_answers(const std::string& answers_path, const std::string& gt_path,
                          const std::string& categories_path = "");

nlohmann::json to_json(const ScoreReport& r);
// A text table: one row per category plus "overall"; columns questions, chance, majority and one
// accuracy column per report (labels name them, e.g. "before", "after").
std::string format_table(const std::vector<ScoreReport>& reports, const std::vector<std::string>& labels);

}  // namespace imp::demo
