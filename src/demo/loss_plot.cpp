// The PNG plot of loss curves (see loss_curve.h), drawn with OpenCV.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/demo/loss_curve.h"

namespace imp::demo {

void write_loss_plot_png(const std::vector<LossCurve>& curves, const std::string& path, int width, int height) {
  IMP_CHECK_KIND(!curves.empty(), ErrorKind::usage, "loss plot: no curves to draw");
  IMP_CHECK_KIND(width >= 200 && height >= 120 && width <= 8192 && height <= 8192, ErrorKind::usage,
                 "loss plot: size ", width, "x", height, " out of range [200x120, 8192x8192]");
  double lo = INFINITY, hi = -INFINITY;
  int64_t s0 = INT64_MAX, s1 = INT64_MIN;
  for (const auto& c : curves) {
    lo = std::min(lo, *std::min_element(c.losses.begin(), c.losses.end()));
    hi = std::max(hi, *std::max_element(c.losses.begin(), c.losses.end()));
    s0 = std::min(s0, c.steps.front());
    s1 = std::max(s1, c.steps.back());
  }
  if (hi <= lo) hi = lo + 1;
  if (s1 <= s0) s1 = s0 + 1;
  const int left = 64, right = 16, top = 16, bottom = 40;
  const int pw = width - left - right, ph = height - top - bottom;
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar axis(60, 60, 60), grid(225, 225, 225);
  auto x_of = [&](int64_t s) { return left + static_cast<int>(std::lround((double(s) - double(s0)) / (double(s1) - double(s0)) * pw)); };
  auto y_of = [&](double v) { return top + static_cast<int>(std::lround((hi - v) / (hi - lo) * ph)); };
  char buf[64];
  for (int i = 0; i <= 4; ++i) {  // horizontal grid lines with loss labels
    const double v = lo + (hi - lo) * i / 4.0;
    cv::line(img, {left, y_of(v)}, {left + pw, y_of(v)}, grid, 1);
    std::snprintf(buf, sizeof buf, "%.2f", v);
    cv::putText(img, buf, {4, y_of(v) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, axis, 1, cv::LINE_AA);
  }
  cv::rectangle(img, {left, top}, {left + pw, top + ph}, axis, 1);
  std::snprintf(buf, sizeof buf, "step %lld", static_cast<long long>(s0));
  cv::putText(img, buf, {left, height - 22}, cv::FONT_HERSHEY_SIMPLEX, 0.4, axis, 1, cv::LINE_AA);
  std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(s1));
  cv::putText(img, buf, {left + pw - 8 * static_cast<int>(std::strlen(buf)), height - 22}, cv::FONT_HERSHEY_SIMPLEX,
              0.4, axis, 1, cv::LINE_AA);
  cv::putText(img, "training loss", {left + pw / 2 - 40, height - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.45, axis, 1,
              cv::LINE_AA);
  static const cv::Scalar kColours[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214}, {189, 103, 148}};
  for (size_t k = 0; k < curves.size(); ++k) {
    const auto& c = curves[k];
    const cv::Scalar colour = kColours[k % std::size(kColours)];
    std::vector<cv::Point> pts;
    for (size_t i = 0; i < c.losses.size(); ++i) pts.emplace_back(x_of(c.steps[i]), y_of(c.losses[i]));
    cv::polylines(img, pts, false, colour, 2, cv::LINE_AA);
    const int ly = top + 14 + 16 * static_cast<int>(k);
    cv::line(img, {left + pw - 150, ly - 4}, {left + pw - 130, ly - 4}, colour, 2);
    cv::putText(img, c.label, {left + pw - 124, ly}, cv::FONT_HERSHEY_SIMPLEX, 0.4, axis, 1, cv::LINE_AA);
  }
  std::vector<uchar> png;
  IMP_CHECK_KIND(cv::imencode(".png", img, png), ErrorKind::io, path, ": PNG encoding failed");
  atomic_write(path, std::string(png.begin(), png.end()));
}

}  // namespace imp::demo
