// DataLoader: builds batches on worker threads with a bounded prefetch window and hands them out in
// order, so the batches are the same whatever the thread count.
#pragma once

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "imp/data/dataset.h"

namespace imp::data {

class DataLoader {
 public:
  // `batches` are dataset indices per batch (e.g. from rank_batches), starting at the resume position.
  // num_workers 0 builds each batch in next(); prefetch bounds how many batches are built ahead.
  DataLoader(const SupervisedDataset& dataset, std::vector<std::vector<int64_t>> batches, int num_workers = 2,
             int prefetch = 4);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch in order, or nullopt at the end. A worker's exception is rethrown here.
  std::optional<Batch> next();

 private:
  Batch build(size_t k) const;
  void work();

  const SupervisedDataset& dataset_;
  std::vector<std::vector<int64_t>> batches_;
  size_t prefetch_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<size_t, Batch> ready_;
  std::exception_ptr error_;
  size_t next_to_build_ = 0, next_to_return_ = 0;
  bool stop_ = false;
};

}  // namespace imp::data
