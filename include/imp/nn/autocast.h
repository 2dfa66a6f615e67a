// Autocast (mixed precision) state per device type, the same calls on LibTorch 1.13 and 2.x.
// Autocast is thread-local: code that runs on other threads (recomputation in backward) re-applies it.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include "imp/core/compat.h"

namespace imp::nn {

struct AutocastState {
  bool cpu = false, cuda = false;
  c10::ScalarType cpu_dtype = c10::kBFloat16, cuda_dtype = c10::kHalf;

  static AutocastState current() {
    AutocastState s;
#if IMP_TORCH_AT_LEAST(2, 4)
    s.cpu = at::autocast::is_autocast_enabled(c10::DeviceType::CPU);
    s.cuda = at::autocast::is_autocast_enabled(c10::DeviceType::CUDA);
    s.cpu_dtype = at::autocast::get_autocast_dtype(c10::DeviceType::CPU);
    s.cuda_dtype = at::autocast::get_autocast_dtype(c10::DeviceType::CUDA);
#else
    s.cpu = at::autocast::is_cpu_enabled();
    s.cuda = at::autocast::is_enabled();
    s.cpu_dtype = at::autocast::get_autocast_cpu_dtype();
    s.cuda_dtype = at::autocast::get_autocast_gpu_dtype();
#endif
    return s;
  }

  void apply() const {
#if IMP_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(c10::DeviceType::CPU, cpu);
    at::autocast::set_autocast_enabled(c10::DeviceType::CUDA, cuda);
    at::autocast::set_autocast_dtype(c10::DeviceType::CPU, cpu_dtype);
    at::autocast::set_autocast_dtype(c10::DeviceType::CUDA, cuda_dtype);
#else
    at::autocast::set_cpu_enabled(cpu);
    at::autocast::set_enabled(cuda);
    at::autocast::set_autocast_cpu_dtype(cpu_dtype);
    at::autocast::set_autocast_gpu_dtype(cuda_dtype);
#endif
  }
};

// Enables autocast to `dtype` on `device_type` for the guard's lifetime (and clears the cast cache on
// exit, as Python's autocast does).
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, c10::DeviceType device_type, c10::ScalarType dtype) : saved_(AutocastState::current()) {
    if (!enabled) return;
    AutocastState s = saved_;
    if (device_type == c10::DeviceType::CUDA) {
      s.cuda = true, s.cuda_dtype = dtype;
    } else {
      s.cpu = true, s.cpu_dtype = dtype;
    }
    s.apply();
    active_ = true;
  }
  ~AutocastGuard() {
    if (!active_) return;
    saved_.apply();
    at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  AutocastState saved_;
  bool active_ = false;
};

}  // namespace imp::nn
