// ScienceQA answer parsing as imp_llava/eval/eval_science_qa.py.
#pragma once

#include <string>

namespace imp::eval {

// The option letter: the text itself if it is one of A-E; its first letter if it starts with
// "<A-E>. "; the single match of r"The answer is ([A-Z])." (any character after the letter except a
// newline; zero or several matches fail); else "FAILED".
std::string sqa_parse_answer(const std::string& text);
// get_pred_idx: index of `answer` among the first n_choices of A-E, or -1.
int sqa_pred_index(const std::string& answer, size_t n_choices);

}  // namespace imp::eval
