// Question files of the three `imp eval` engines -> EvalItems, the way each Python script builds its
// prompts (model_vqa_loader: JSONL; model_vqa_science: LLaVA conversation JSON, text-only items
// allowed; model_vqa_mmbench: TSV with base64 images). Torch-free, so it is fuzzed on its own.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "imp/core/json.h"

namespace imp::eval {

enum class Engine { loader, science, mmbench };

// What the question readers use of `imp eval`'s options.
struct QuestionOptions {
  std::string question_file, image_folder;
  bool all_rounds = false, single_pred_prompt = false;
  std::string lang = "en";
};

// One question after the engine's prompt building.
struct EvalItem {
  OrderedJson head;             // answer fields before "text" (question_id, round_id, prompt)
  OrderedJson tail;             // answer fields after "text" (MMBench: options, option_char)
  std::string question;         // the user message ("<image>\n" + ... for image questions)
  enum class ImageKind { none, file, bytes } image_kind = ImageKind::none;
  std::string image;            // path, or the decoded bytes of a base64 image
  bool aspect = true;           // false: squash regardless of image_aspect_ratio (model_vqa_science)
  size_t source = 0;            // the question's row in the file (MMBench rounds share it); chunks split rows
};

// All questions of a file, in file order, with the engine's prompt text (no template applied yet).
// Chunks (--num-chunks) split the file's rows, as Python does before expanding MMBench rounds.
std::vector<EvalItem> load_items(Engine engine, const QuestionOptions& o);

}  // namespace imp::eval
