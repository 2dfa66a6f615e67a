// Loss curves from metrics.jsonl as sparklines (see loss_curve.h); the PNG plot is in loss_plot.cpp.
#include "imp/demo/loss_curve.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"

namespace imp::demo {

LossCurve read_loss_curve(const std::string& path, const std::string& label) {
  const std::string file = is_directory(path) ? join_path(path, "metrics.jsonl") : path;
  IMP_CHECK_KIND(path_exists(file), ErrorKind::input, file,
                 ": no such file (give a training output directory or its metrics.jsonl)");
  LossCurve c;
  c.label = label;
  std::istringstream in(read_text_file(file));
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Json j = parse_json(line, file + ":" + std::to_string(n), json_limits::eval_data);
    IMP_CHECK_KIND(j.is_object(), ErrorKind::input, file, ":", n, ": expected a JSON object per line");
    const double loss = json_or<double>(j, "loss", NAN, file + ":" + std::to_string(n));
    if (!std::isfinite(loss)) continue;
    c.steps.push_back(json_or<int64_t>(j, "step", static_cast<int64_t>(c.steps.size()) + 1, file));
    c.losses.push_back(loss);
  }
  IMP_CHECK_KIND(!c.losses.empty(), ErrorKind::input, file,
                 ": no logged loss in it (was the run shorter than --logging_steps?)");
  return c;
}

std::string sparkline(const std::vector<double>& values, int width) {
  static const char* kLevels[] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
  if (values.empty() || width <= 0) return "";
  const size_t n = values.size(), cols = std::min(n, static_cast<size_t>(width));
  std::vector<double> binned(cols);
  for (size_t c = 0; c < cols; ++c) {
    const size_t begin = c * n / cols, end = std::max(begin + 1, (c + 1) * n / cols);
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += values[i];
    binned[c] = sum / static_cast<double>(end - begin);
  }
  const auto [lo, hi] = std::minmax_element(binned.begin(), binned.end());
  const double range = *hi - *lo;
  std::string out;
  for (double v : binned) {
    const int level = range > 0 ? static_cast<int>(std::lround((v - *lo) / range * 7.0)) : 0;
    out += kLevels[std::clamp(level, 0, 7)];
  }
  return out;
}

std::string format_loss_curves(const std::vector<LossCurve>& curves, int width) {
  size_t label_width = 0;
  for (const auto& c : curves) label_width = std::max(label_width, c.label.size());
  std::string out;
  char buf[160];
  for (const auto& c : curves) {
    out += c.label + std::string(label_width - c.label.size() + 2, ' ');
    std::snprintf(buf, sizeof buf, "%7.4f ", c.losses.front());
    out += buf + sparkline(c.losses, width);
    std::snprintf(buf, sizeof buf, " %.4f  (steps %lld-%lld, min %.4f)\n", c.losses.back(),
                  static_cast<long long>(c.steps.front()), static_cast<long long>(c.steps.back()),
                  *std::min_element(c.losses.begin(), c.losses.end()));
    out += buf;
  }
  return out;
}

}  // namespace imp::demo
