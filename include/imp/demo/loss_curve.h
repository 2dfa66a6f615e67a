// `imp loss-curve`: the training loss of one or more runs, read from their metrics.jsonl (one JSON object
// per logged step, written by the trainer), as a terminal sparkline and optionally a PNG plot (OpenCV
// builds only). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imp::demo {

struct LossCurve {
  std::string label;
  std::vector<int64_t> steps;
  std::vector<double> losses;  // same length as steps, finite values only
};

// Reads the "step" and "loss" of every line of a metrics.jsonl file, or of <dir>/metrics.jsonl when
// `path` is a run directory. Lines without a finite loss (e.g. skipped fp16 steps) are left out. A
// malformed line is an imp::Error naming the file and line; a file without any loss is an error too.
LossCurve read_loss_curve(const std::string& path, const std::string& label);

// `width` characters of U+2581..U+2588 (eight levels between the curve's min and max); each character is
// the mean loss of its share of the logged steps. Fewer points than width: one character per point.
std::string sparkline(const std::vector<double>& values, int width);

// One line per curve: "<label>  <first loss> <sparkline> <last loss>  (steps a-b, min m)".
std::string format_loss_curves(const std::vector<LossCurve>& curves, int width);

// Draws the curves (loss against step, one colour each, axes with min/max labels, a legend) into a
// PNG of width x height pixels, written atomically. Needs OpenCV (IMP_WITH_OPENCV).
void write_loss_plot_png(const std::vector<LossCurve>& curves, const std::string& path, int width = 640,
                         int height = 360);

}  // namespace imp::demo
