// Imp's aspect-ratio modes and ImpImageProcessor.preprocess (imp-reference §3.1, §3.2): expand2square /
// centre crop, BICUBIC squash to size x size, rescale in float64 then float32, normalize in float32, CHW.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "image_internal.h"
#include "imp/core/error.h"

namespace imp::image {
namespace {

void check_image(const Image& in, const char* what) {
  IMP_CHECK_KIND(in.width > 0 && in.height > 0 &&
                     in.rgb.size() == static_cast<size_t>(in.width) * static_cast<size_t>(in.height) * 3,
                 ErrorKind::internal, what, ": invalid image ", in.width, "x", in.height, " with ", in.rgb.size(),
                 " bytes");
}

// in's rectangle (x0, y0, w, h) copied to out at (dx, dy).
void blit(const Image& in, int x0, int y0, int w, int h, Image& out, int dx, int dy) {
  for (int y = 0; y < h; ++y)
    std::memcpy(&out.rgb[(static_cast<size_t>(dy + y) * out.width + dx) * 3],
                &in.rgb[(static_cast<size_t>(y0 + y) * in.width + x0) * 3], static_cast<size_t>(w) * 3);
}

}  // namespace

Image expand2square(const Image& in, uint8_t r, uint8_t g, uint8_t b) {
  check_image(in, "expand2square");
  if (in.width == in.height) return in;
  Image out;
  out.width = out.height = in.width > in.height ? in.width : in.height;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  for (size_t i = 0; i < out.rgb.size(); i += 3) {
    out.rgb[i] = r;
    out.rgb[i + 1] = g;
    out.rgb[i + 2] = b;
  }
  // Imp pastes at (0, (w - h) // 2) or ((h - w) // 2, 0).
  blit(in, 0, 0, in.width, in.height, out, (out.width - in.width) / 2, (out.height - in.height) / 2);
  return out;
}

Image center_crop_square(const Image& in) {
  check_image(in, "center_crop_square");
  if (in.width == in.height) return in;
  Image out;
  out.width = out.height = in.width < in.height ? in.width : in.height;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  blit(in, (in.width - out.width) / 2, (in.height - out.height) / 2, out.width, out.height, out, 0, 0);
  return out;
}

AspectMode parse_aspect_mode(const std::string& s) {
  if (s == "square") return AspectMode::square;
  if (s == "pad") return AspectMode::pad;
  if (s == "crop") return AspectMode::crop;
  throw Error(str("image_aspect_ratio \"", s, "\" is not one of square, pad, crop"), ErrorKind::usage);
}

std::vector<float> process(const Image& img, AspectMode mode, const ProcessorConfig& cfg) {
  check_image(img, "process");
  IMP_CHECK_KIND(cfg.size >= 4 && cfg.size <= 8192, ErrorKind::usage, "image processor size ", cfg.size,
                 " is outside 4..8192");
  // The aspect step as a canvas (never built): pad = the image centred on a max(w,h) square of the
  // mean colour, crop = the centred min(w,h) window, square = the image itself.
  detail::Canvas canvas{&img, img.width, img.height, 0, 0, {0, 0, 0}};
  if (mode == AspectMode::pad) {
    for (int c = 0; c < 3; ++c) {
      const double v = cfg.mean[c] * 255;  // Python: tuple(int(x * 255) for x in image_mean)
      IMP_CHECK_KIND(v >= 0 && v < 256, ErrorKind::usage, "image mean ", cfg.mean[c], " gives no pad colour in 0..255");
      canvas.bg[c] = static_cast<uint8_t>(v);
    }
    canvas.width = canvas.height = std::max(img.width, img.height);
    canvas.ox = (canvas.width - img.width) / 2;
    canvas.oy = (canvas.height - img.height) / 2;
  } else if (mode == AspectMode::crop) {
    canvas.width = canvas.height = std::min(img.width, img.height);
    canvas.ox = -((img.width - canvas.width) / 2);
    canvas.oy = -((img.height - canvas.height) / 2);
  }

  // transformers guesses the channel axis of the HWC array from its shape: (1 or 3, W, 3) counts as
  // channels-first (infer_channel_dimension_format).
  Image transposed;
  if (cfg.reference_channel_quirk && canvas.height == 1)
    IMP_FAIL("a ", canvas.width, "x1 image (after the '", mode == AspectMode::pad ? "pad" : mode == AspectMode::crop ? "crop" : "square",
             "' step) cannot be processed: the reference ImpImageProcessor fails on images 1 pixel high (transformers ",
             "takes the 1-row array for channels-first and normalize raises \"mean must have 1 elements\")");
  if (cfg.reference_channel_quirk && canvas.height == 3) {
    // The reference resizes the array as a picture 3 wide and W high whose channel b is canvas row b,
    // and its output channel b is that picture's channel b.
    const Image rows = detail::resize_canvas(canvas, canvas.width, 3);  // the canvas itself (no pass)
    transposed.width = 3;
    transposed.height = canvas.width;
    transposed.rgb.resize(rows.rgb.size());
    for (int b = 0; b < 3; ++b)
      for (int col = 0; col < canvas.width; ++col)
        for (int c = 0; c < 3; ++c)
          transposed.rgb[(static_cast<size_t>(col) * 3 + c) * 3 + b] = rows.rgb[(static_cast<size_t>(b) * canvas.width + col) * 3 + c];
    canvas = detail::Canvas{&transposed, 3, canvas.width, 0, 0, {0, 0, 0}};
  }

  const Image r = detail::resize_canvas(canvas, cfg.size, cfg.size);

  // Per channel, the 256 possible outputs: float32(float64(u) * rescale), then (x - mean) / std in float32.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    const float m = static_cast<float>(cfg.mean[c]), s = static_cast<float>(cfg.std[c]);
    for (int u = 0; u < 256; ++u) {
      const float v = static_cast<float>(static_cast<double>(u) * cfg.rescale);
      lut[c][u] = (v - m) / s;
    }
  }
  const size_t plane = static_cast<size_t>(cfg.size) * cfg.size;
  std::vector<float> out(3 * plane);
  for (size_t i = 0; i < plane; ++i) {
    out[i] = lut[0][r.rgb[3 * i]];
    out[plane + i] = lut[1][r.rgb[3 * i + 1]];
    out[2 * plane + i] = lut[2][r.rgb[3 * i + 2]];
  }
  return out;
}

}  // namespace imp::image
