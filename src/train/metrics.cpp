#include "imp/train/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "imp/core/error.h"
#include "imp/core/fs.h"

namespace imp::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

MetricsLog::MetricsLog(const std::string& output_dir, bool enabled, const std::string& tensorboard_dir)
    : enabled_(enabled), tty_(enabled && ::isatty(STDERR_FILENO)) {
  if (!enabled_) return;
  if (!tensorboard_dir.empty()) tb_ = std::make_unique<TensorBoardWriter>(tensorboard_dir);
  const std::string path = join_path(output_dir, "metrics.jsonl");
  jsonl_.open(path, std::ios::app);
  IMP_CHECK_KIND(jsonl_.good(), ErrorKind::io, path, ": cannot open for writing");
}

void MetricsLog::log(const StepMetrics& m) {
  if (!enabled_) return;
  Json j = {{"step", m.step}, {"epoch", m.epoch}, {"loss", m.loss}, {"learning_rate", m.learning_rate},
            {"grad_norm", m.grad_norm}, {"tokens_per_s", m.tokens_per_s}, {"samples_per_s", m.samples_per_s},
            {"loss_scale", m.loss_scale}, {"skipped_steps", m.skipped_steps}, {"data_wait_s", m.data_wait_s}};
  if (m.mfu >= 0) j["mfu"] = m.mfu;
  jsonl_ << j.dump() << "\n";
  jsonl_.flush();
  if (tb_) {
    for (const char* k : {"loss", "learning_rate", "grad_norm", "tokens_per_s", "loss_scale", "epoch"})
      tb_->scalar(std::string("train/") + k, j.at(k).get<double>(), m.step);
    tb_->flush();
  }
  history_.push_back(Json{{"epoch", m.epoch}, {"grad_norm", m.grad_norm}, {"learning_rate", m.learning_rate},
                          {"loss", m.loss}, {"step", m.step}});
  char line[320];
  const std::string mfu = m.mfu >= 0 ? std::to_string(static_cast<int>(m.mfu * 100 + 0.5)) + "%" : "-";
  std::snprintf(line, sizeof(line),
                "step %lld/%lld | loss %.4f | lr %.3g | grad %.3g | %.0f tok/s | %.2f samples/s | MFU %s | "
                "data-wait %.2fs | skipped %lld | ETA %s",
                static_cast<long long>(m.step), static_cast<long long>(m.total_steps), m.loss, m.learning_rate,
                m.grad_norm, m.tokens_per_s, m.samples_per_s, mfu.c_str(), m.data_wait_s,
                static_cast<long long>(m.skipped_steps), format_duration(m.eta_s).c_str());
  if (tty_) {
    std::cerr << "\r\033[K" << line << std::flush;
    line_open_ = true;
  } else {
    std::cerr << line << "\n";
  }
}

void MetricsLog::note(const std::string& line) {
  if (!enabled_) return;
  if (line_open_) std::cerr << "\n";
  line_open_ = false;
  std::cerr << line << "\n";
}

void MetricsLog::finish() {
  if (enabled_ && line_open_) std::cerr << "\n";
  line_open_ = false;
}

}  // namespace imp::train
