// DataLoader; see data_loader.h.
#include "imp/data/data_loader.h"

namespace imp::data {

DataLoader::DataLoader(const SupervisedDataset& dataset, std::vector<std::vector<int64_t>> batches, int num_workers,
                       int prefetch)
    : dataset_(dataset), batches_(std::move(batches)), prefetch_(std::max(1, prefetch)) {
  for (int i = 0; i < num_workers; ++i) workers_.emplace_back([this] { work(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

Batch DataLoader::build(size_t k) const {
  std::vector<Sample> samples;
  for (int64_t i : batches_[k]) samples.push_back(dataset_.get_or_substitute(static_cast<size_t>(i)));
  return collate(samples, dataset_.args().text);
}

void DataLoader::work() {
  while (true) {
    size_t k;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || (next_to_build_ < batches_.size() && next_to_build_ < next_to_return_ + prefetch_); });
      if (stop_) return;
      k = next_to_build_++;
    }
    try {
      Batch b = build(k);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(k, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

std::optional<Batch> DataLoader::next() {
  if (next_to_return_ >= batches_.size()) return std::nullopt;
  if (workers_.empty()) return build(next_to_return_++);
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return error_ || ready_.count(next_to_return_); });
  if (error_) std::rethrow_exception(error_);
  Batch b = std::move(ready_.at(next_to_return_));
  ready_.erase(next_to_return_++);
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace imp::data
