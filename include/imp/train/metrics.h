// What rank 0 reports while training: a progress line (redrawn on a TTY, plain lines otherwise),
// metrics.jsonl (one JSON object per logged step) and HF's trainer_state.json log_history.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "imp/core/json.h"
#include "imp/train/tensorboard.h"

namespace imp::train {

struct StepMetrics {
  int64_t step = 0, total_steps = 0;
  double epoch = 0.0;
  double loss = 0.0, learning_rate = 0.0, grad_norm = 0.0;
  double tokens_per_s = 0.0, samples_per_s = 0.0;
  double loss_scale = 1.0;
  int64_t skipped_steps = 0;
  double mfu = -1.0;      // < 0: unknown (no peak FLOP/s figure for this device)
  double data_wait_s = 0.0;  // time the step waited for its micro-batches (0 when workers keep up)
  double eta_s = 0.0;
};

class MetricsLog {
 public:
  // enabled = rank 0; appends to <output_dir>/metrics.jsonl, and writes TensorBoard scalars ("train/loss",
  // "train/learning_rate", ...) into tensorboard_dir when it is not empty.
  MetricsLog(const std::string& output_dir, bool enabled, const std::string& tensorboard_dir = "");
  void log(const StepMetrics& m);
  void note(const std::string& line);  // a plain message line (keeps the progress line intact)
  void finish();
  const Json& log_history() const { return history_; }
  void set_log_history(Json h) { history_ = std::move(h); }

 private:
  bool enabled_, tty_;
  std::ofstream jsonl_;
  std::unique_ptr<TensorBoardWriter> tb_;
  Json history_ = Json::array();
  bool line_open_ = false;
};

std::string format_duration(double seconds);

}  // namespace imp::train
