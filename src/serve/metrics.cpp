// Prometheus text for /metrics; see metrics.h.
#include "imp/serve/metrics.h"

#include <sstream>

namespace imp::serve {

void Metrics::request_done(int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++by_status_[status];
  ++count_;
  sum_ += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++buckets_[i];
}

void Metrics::add_in_flight(int64_t delta) { in_flight_ += delta; }

std::string Metrics::render(const eval::EngineStats& e) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP imp_requests_total Chat completion requests answered, by HTTP status.\n"
       "# TYPE imp_requests_total counter\n";
  for (const auto& [status, n] : by_status_) o << "imp_requests_total{status=\"" << status << "\"} " << n << "\n";
  o << "# HELP imp_requests_in_flight Chat completion requests being answered.\n"
       "# TYPE imp_requests_in_flight gauge\nimp_requests_in_flight "
    << in_flight_.load() << "\n";
  o << "# HELP imp_queue_depth Requests waiting to join the running batch.\n"
       "# TYPE imp_queue_depth gauge\nimp_queue_depth "
    << e.queued << "\n";
  o << "# HELP imp_batch_rows Requests in the running batch.\n# TYPE imp_batch_rows gauge\nimp_batch_rows "
    << e.running << "\n";
  o << "# HELP imp_prompt_tokens_total Prompt tokens prefilled (images counted as their patches).\n"
       "# TYPE imp_prompt_tokens_total counter\nimp_prompt_tokens_total "
    << e.prompt_tokens << "\n";
  o << "# HELP imp_completion_tokens_total Tokens generated.\n"
       "# TYPE imp_completion_tokens_total counter\nimp_completion_tokens_total "
    << e.completion_tokens << "\n";
  o << "# HELP imp_generation_tokens_per_second Tokens generated per second of engine work since start.\n"
       "# TYPE imp_generation_tokens_per_second gauge\nimp_generation_tokens_per_second "
    << (e.busy_seconds > 0 ? static_cast<double>(e.completion_tokens) / e.busy_seconds : 0.0) << "\n";
  o << "# HELP imp_request_duration_seconds Chat completion latency, request received to last byte queued.\n"
       "# TYPE imp_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i)
    o << "imp_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << buckets_[i] << "\n";
  o << "imp_request_duration_seconds_bucket{le=\"+Inf\"} " << count_ << "\n"
    << "imp_request_duration_seconds_sum " << sum_ << "\n"
    << "imp_request_duration_seconds_count " << count_ << "\n";
  return o.str();
}

}  // namespace imp::serve
