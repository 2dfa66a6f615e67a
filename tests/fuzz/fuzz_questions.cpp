// libFuzzer target: the question-file readers of `imp eval` (load_items). The first input byte picks
// the engine (bits 0-1 % 3: loader JSONL, science JSON, MMBench TSV) and the options (bit 2
// all_rounds, bit 3 single_pred_prompt, bit 4 lang cn); the rest is the question file. Only
// imp::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string>

#include "imp/core/error.h"
#include "imp/eval/questions.h"
#include "imp/eval/score_io.h"
#include "scratch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  imp::eval::QuestionOptions o;
  o.question_file = imp::fuzz::write_scratch("questions", std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  o.image_folder = "images";
  o.all_rounds = mode & 4;
  o.single_pred_prompt = mode & 8;
  o.lang = mode & 16 ? "cn" : "en";
  const imp::eval::Engine engines[] = {imp::eval::Engine::loader, imp::eval::Engine::science, imp::eval::Engine::mmbench};
  try {
    for (const auto& item : imp::eval::load_items(engines[(mode & 3) % 3], o)) {  // as the answer lines use them
      (void)item.head.at("question_id").dump();
      (void)imp::eval::py_json_dumps(item.head);
      (void)imp::eval::py_json_dumps(item.tail);
    }
  } catch (const imp::Error&) {
  }
  return 0;
}
