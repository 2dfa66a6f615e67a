// Dynamic loss scaling for fp16 training: torch.cuda.amp.GradScaler's rules (init 2^16, x2 after
// growth_interval clean steps, x0.5 on a non-finite step which is skipped) plus DeepSpeed's optional
// hysteresis (tolerate N-1 overflows before backing off) and a floor. LibTorch has no GradScaler class;
// this is the bookkeeping half, the trainer unscales the gradients. Torch-free.
#pragma once

#include <cstdint>

#include "imp/core/json.h"

namespace imp::train {

struct LossScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  int64_t hysteresis = 1;       // 1 = GradScaler (back off at the first overflow); DeepSpeed's Imp JSON uses 2
  double min_scale = 1.0;
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions o = {}, bool enabled = true);
  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }
  // Records the outcome of one optimizer step (found_inf: a gradient was inf/NaN, the step was skipped).
  void update(bool found_inf);
  int64_t growth_tracker() const { return growth_tracker_; }
  int64_t hysteresis_left() const { return hysteresis_left_; }

  Json state() const;
  void load_state(const Json& j, const std::string& origin);

 private:
  LossScalerOptions o_;
  bool enabled_;
  double scale_;
  int64_t growth_tracker_ = 0;
  int64_t hysteresis_left_;
};

}  // namespace imp::train
