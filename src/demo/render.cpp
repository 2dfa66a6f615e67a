// OpenCV drawing of demo scenes (see render.h).
#include "imp/demo/render.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imp/core/error.h"

namespace imp::demo {
namespace {

constexpr double kPi = 3.14159265358979323846;

cv::Point pt(double x, double y) { return {static_cast<int>(std::lround(x)), static_cast<int>(std::lround(y))}; }

// Polygon with `n` vertices alternating between radii r_outer and r_inner (star) or all r_outer.
std::vector<cv::Point> polygon(double cx, double cy, int n, double r_outer, double r_inner, double start_deg) {
  std::vector<cv::Point> pts;
  for (int i = 0; i < n; ++i) {
    const double r = (i % 2 == 1 && r_inner > 0) ? r_inner : r_outer;
    const double a = (start_deg + 360.0 * i / n) * kPi / 180.0;
    pts.push_back(pt(cx + r * std::cos(a), cy + r * std::sin(a)));
  }
  return pts;
}

void draw_shape(cv::Mat& img, const Shape& s, double scale) {
  const cv::Scalar colour(s.rgb.b, s.rgb.g, s.rgb.r);  // OpenCV is BGR
  const double cx = s.cx * scale, cy = s.cy * scale, r = s.radius * scale;
  switch (s.kind) {
    case 0:
      cv::circle(img, pt(cx, cy), static_cast<int>(std::lround(r)), colour, cv::FILLED, cv::LINE_8);
      break;
    case 1:
      cv::rectangle(img, pt(cx - 0.9 * r, cy - 0.9 * r), pt(cx + 0.9 * r, cy + 0.9 * r), colour, cv::FILLED, cv::LINE_8);
      break;
    case 2:
      cv::fillConvexPoly(img, polygon(cx, cy, 3, 1.2 * r, 0, -90), colour, cv::LINE_8);
      break;
    case 3: {
      std::vector<std::vector<cv::Point>> star = {polygon(cx, cy, 10, 1.2 * r, 0.5 * r, -90)};
      cv::fillPoly(img, star, colour, cv::LINE_8);
      break;
    }
    default:
      IMP_FAIL("shape kind ", s.kind, " out of range");
  }
}

}  // namespace

std::vector<uint8_t> render_scene(const Scene& scene, int size) {
  IMP_CHECK(size >= 16 && size <= 4096, "image size ", size, " is out of range [16, 4096]");
  cv::Mat img(size, size, CV_8UC3, cv::Scalar(scene.background, scene.background, scene.background));
  const double scale = size / 64.0;
  for (const auto& s : scene.shapes) draw_shape(img, s, scale);
  std::vector<uint8_t> rgb(static_cast<size_t>(size) * size * 3);
  Rng noise(scene.noise_seed);
  for (int y = 0; y < size; ++y) {
    const auto* row = img.ptr<cv::Vec3b>(y);
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < 3; ++c) {
        double v = row[x][2 - c];
        if (scene.noise_sigma > 0) v += scene.noise_sigma * noise.normal();
        rgb[(static_cast<size_t>(y) * size + x) * 3 + c] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return rgb;
}

void write_scene_png(const Scene& scene, int size, const std::string& path) {
  const auto rgb = render_scene(scene, size);
  cv::Mat bgr(size, size, CV_8UC3);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const size_t i = (static_cast<size_t>(y) * size + x) * 3;
      bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(rgb[i + 2], rgb[i + 1], rgb[i]);
    }
  std::vector<uchar> png;
  IMP_CHECK_KIND(cv::imencode(".png", bgr, png), ErrorKind::io, path, ": PNG encoding failed");
  // A plain write (no fsync per image: thousands of small files); dataset_info.json is written last.
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  f.close();
  IMP_CHECK_KIND(f.good(), ErrorKind::io, path, ": cannot write the image (directory missing or disk full?)");
}

}  // namespace imp::demo
