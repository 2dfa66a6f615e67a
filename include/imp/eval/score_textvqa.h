// eval_textvqa.py's prompt_processor: the lower-cased question inside a TextVQA prompt.
#pragma once

#include <string>

namespace imp::eval {

std::string textvqa_prompt_question(const std::string& prompt, const std::string& origin);

}  // namespace imp::eval
