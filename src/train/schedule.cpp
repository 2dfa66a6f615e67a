#include "imp/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "imp/core/error.h"

namespace imp::train {

double lr_factor(const std::string& type, int64_t step, int64_t warmup, int64_t total) {
  const double s = static_cast<double>(step);
  const double w = static_cast<double>(std::max<int64_t>(1, warmup));
  if (type == "constant") return 1.0;
  if (step < warmup) return s / w;  // every warmup schedule starts linearly from 0
  if (type == "constant_with_warmup") return 1.0;
  const double rest = static_cast<double>(std::max<int64_t>(1, total - warmup));
  if (type == "linear") return std::max(0.0, static_cast<double>(total - step) / rest);
  if (type == "cosine") {
    const double progress = static_cast<double>(step - warmup) / rest;
    return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress)));  // num_cycles = 0.5
  }
  IMP_CHECK_KIND(false, ErrorKind::usage, "--lr_scheduler_type ", type,
                 " is not supported; use linear, cosine, constant or constant_with_warmup");
  return 0.0;
}

int64_t warmup_steps_for(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

}  // namespace imp::train
