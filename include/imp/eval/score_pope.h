// eval_pope.py pieces: answer parsing and the per-split metrics.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace imp::eval {

// True when the first sentence (text before the first '.') with commas removed, split on single
// spaces, contains the word "No", "not" or "no" (case-sensitive: "NO" counts as yes).
bool pope_answer_is_no(const std::string& answer);

struct PopeMetrics {
  size_t samples = 0, tp = 0, fp = 0, tn = 0, fn = 0;
  std::optional<double> accuracy, precision, recall, f1, yes_ratio;  // nullopt: Python divides by zero
};
PopeMetrics pope_metrics(const std::vector<bool>& pred_yes, const std::vector<bool>& label_yes);

}  // namespace imp::eval
