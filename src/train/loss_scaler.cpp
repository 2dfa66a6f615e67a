#include "imp/train/loss_scaler.h"

#include <algorithm>

#include "imp/core/error.h"

namespace imp::train {

LossScaler::LossScaler(LossScalerOptions o, bool enabled)
    : o_(o), enabled_(enabled), scale_(o.init_scale), hysteresis_left_(std::max<int64_t>(1, o.hysteresis)) {}

void LossScaler::update(bool found_inf) {
  if (!enabled_) return;
  if (found_inf) {
    growth_tracker_ = 0;
    if (--hysteresis_left_ > 0) return;
    hysteresis_left_ = std::max<int64_t>(1, o_.hysteresis);
    scale_ = std::max(o_.min_scale, scale_ * o_.backoff_factor);
    return;
  }
  hysteresis_left_ = std::max<int64_t>(1, o_.hysteresis);
  if (++growth_tracker_ == o_.growth_interval) {
    scale_ *= o_.growth_factor;
    growth_tracker_ = 0;
  }
}

Json LossScaler::state() const {
  return Json{{"enabled", enabled_}, {"scale", scale_}, {"growth_tracker", growth_tracker_},
              {"hysteresis_left", hysteresis_left_}};
}

void LossScaler::load_state(const Json& j, const std::string& origin) {
  try {
    enabled_ = j.at("enabled").get<bool>();
    scale_ = j.at("scale").get<double>();
    growth_tracker_ = j.at("growth_tracker").get<int64_t>();
    hysteresis_left_ = j.at("hysteresis_left").get<int64_t>();
  } catch (const std::exception& e) {
    IMP_FAIL(origin, ": bad loss-scaler state: ", e.what());
  }
}

}  // namespace imp::train
