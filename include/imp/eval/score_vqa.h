// The EvalAI answer normaliser and the VQA soft accuracy, as imp_llava/eval/m4c_evaluator.py
// (EvalAIAnswerProcessor, TextVQAAccuracyEvaluator) computes them, quirks included: punctuation is
// deleted or spaced depending on the *input* text, at most 32 periods are removed (re.sub's count
// is re.UNICODE), a few contraction keys are capitalised and never match, articles are dropped and
// number words "none"/"zero".."ten" become digits.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imp::eval {

// The four steps of EvalAIAnswerProcessor.__call__, exposed for tests.
std::string evalai_word_tokenize(std::string_view s);
std::string evalai_process_punctuation(std::string_view s);
std::string evalai_process_digit_article(std::string_view s);
// EvalAIAnswerProcessor()(s).
std::string evalai_process(std::string_view s);

// TextVQAAccuracyEvaluator._compute_answer_scores: unique processed human answers with their
// leave-one-out score mean_i min(1, #{j != i : gt_j == u} / 3). Requires exactly 10 answers
// (the Python asserts it); `what` names the question in the error.
std::vector<std::pair<std::string, double>> vqa_answer_scores(const std::vector<std::string>& raw_answers,
                                                              const std::string& what);
// Score of one prediction (processed here) against the raw human answers.
double vqa_accuracy(std::string_view prediction, const std::vector<std::string>& raw_answers,
                    const std::string& what);

}  // namespace imp::eval
