// /metrics of `imp serve`: request counters by status, in-flight requests, a latency histogram and the
// engine's queue and token counters, in Prometheus' text exposition format (version 0.0.4). Torch-free.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "imp/eval/chat_engine.h"

namespace imp::serve {

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied.
  static constexpr std::array<double, 10> kBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

  void request_done(int status, double seconds);  // one finished chat request
  void add_in_flight(int64_t delta);  // +1 when a request is admitted, -1 when it is answered
  // The exposition text; `engine` adds queue depth, running rows, token totals and tokens/s.
  std::string render(const eval::EngineStats& engine) const;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> by_status_;
  std::array<uint64_t, kBuckets.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
  std::atomic<int64_t> in_flight_{0};  // adds commute: no stale value can be stored last
};

}  // namespace imp::serve
