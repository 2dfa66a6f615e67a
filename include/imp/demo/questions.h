// Questions with known answers about demo scenes: the evaluation categories (colour, shape, yesno,
// count) with their chance levels, and the training conversations (single questions, multi-turn,
// short descriptions, text-only questions). Torch-free, OpenCV-free.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "imp/demo/rng.h"
#include "imp/demo/scene.h"

namespace imp::demo {

// LLaVA's instruction after short-answer VQA questions (model_vqa_loader question files).
inline constexpr const char* kAnswerSuffix = "\nAnswer the question using a single word or phrase.";

struct Category {
  std::string name;
  std::string description;
  std::vector<std::string> answers;  // every possible answer; chance = 1 / answers.size() (uniform guess)
  double chance() const { return 1.0 / static_cast<double>(answers.size()); }
};
// colour (6 answers), shape (4), yesno (2, balanced), count (3: "1", "2", "3").
const std::vector<Category>& eval_categories();
const Category& eval_category(const std::string& name);

struct QA {
  std::string category;  // colour, shape, yesno, count, attribute, describe, text
  std::string question;  // without the answer-format suffix
  std::string answer;
};

// One evaluation item of `category`: a fresh scene and a question about it.
std::pair<Scene, QA> make_eval_item(Rng& rng, const std::string& category);

struct Conversation {
  std::optional<Scene> scene;  // none for text-only samples
  std::vector<QA> turns;       // human question + gpt answer, in order
  std::string kind;            // single, multi, describe, text
};
// One training conversation (weights: 25% single question, 60% multi-turn with 2-4 questions about one image,
// 8% describe, 7% text-only).
Conversation make_train_conversation(Rng& rng);

}  // namespace imp::demo
