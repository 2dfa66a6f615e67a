// GQA pieces: LLaVA's convert_gqa_for_eval.py normalisation and the step count of the official eval.
#pragma once

#include <string>

#include "imp/eval/score.h"

namespace imp::eval {

// text.rstrip('.').lower()
std::string gqa_prediction(const std::string& text);
// getStepsNum: semantic operations whose "operation: argument" contains none of "exist",
// "query: name", "choose name".
size_t gqa_steps(const OrderedJson& question);

}  // namespace imp::eval
