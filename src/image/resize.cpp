// resize_bicubic / resize_canvas: an independent implementation of the arithmetic of Pillow 9.4's
// ImagingResample (libImaging/Resample.c) for BICUBIC on 8-bit images, bit-exact:
//  * per output index i: centre = (i + 0.5) * scale with scale = in / out; the filter support 2 is
//    widened by max(scale, 1) (antialiasing when shrinking); the taps are the input indices
//    [int(centre - support + 0.5), int(centre + support + 0.5)) clipped to the image; the weights are
//    bicubic(a = -0.5) at (j - centre + 0.5) / max(scale, 1), divided by their sum (double precision);
//  * weights become integers w * 2^22 rounded half away from zero; a pixel is
//    (2^21 + sum(v * w)) >> 22 clipped to 0..255 (8-bit intermediate, so clipping after each pass);
//  * horizontal pass first, then the vertical pass; a pass whose dimension is unchanged is skipped;
//    nothing changes -> a copy.
// Every sum is an exact integer sum, so its order is free. That is used twice: the vertical pass
// accumulates one intermediate row at a time into a band of output rows (memory bounded by the output,
// whatever the input), and a canvas's background (Imp's pad) enters a sum as colour * (sum of the
// weights of its taps), so a padded square is never built and costs no more than the image in it.
// The double-precision steps must not be contracted into FMAs, which would change the weights' bits.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

#include "image_internal.h"
#include "imp/core/error.h"

namespace imp::image {
namespace detail {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
constexpr int kBand = 32;  // output rows accumulated together in the vertical pass

double bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output index: the first input index, the number of taps, their fixed-point weights and the
// prefix sums of those weights (prefix[i][t] = sum of the first t weights).
struct Taps {
  int ksize = 0;
  std::vector<int32_t> first, count;
  std::vector<int32_t> weights;  // out_size * ksize, zero-padded
  std::vector<int32_t> prefix;   // out_size * (ksize + 1)
  const int32_t* w(int i) const { return &weights[static_cast<size_t>(i) * ksize]; }
  const int32_t* p(int i) const { return &prefix[static_cast<size_t>(i) * (ksize + 1)]; }
  int end(int i) const { return first[i] + count[i]; }
  // Sum of the weights of output i's taps that fall outside [lo, hi).
  int32_t outside(int i, int lo, int hi) const {
    const int n = count[i];
    const int a = std::clamp(lo - first[i], 0, n), b = std::clamp(hi - first[i], a, n);
    return p(i)[a] + p(i)[n] - p(i)[b];
  }
};

Taps compute_taps(int in_size, int out_size) {
  // Pillow passes the box (0, 0, w, h) as C floats: in1 - in0 is a float subtraction.
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  t.prefix.assign(static_cast<size_t>(out_size) * (t.ksize + 1), 0);
  std::vector<double> k(t.ksize);
  for (int i = 0; i < out_size; ++i) {
    const double center = in0 + (i + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int lo = static_cast<int>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = std::max(hi - lo, 0);
    double ww = 0.0;
    for (int x = 0; x < n; ++x) {
      const double w = bicubic((x + lo - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* out = &t.weights[static_cast<size_t>(i) * t.ksize];
    int32_t* pre = &t.prefix[static_cast<size_t>(i) * (t.ksize + 1)];
    int64_t l1 = 0;
    for (int x = 0; x < n; ++x) {
      const double v = ww != 0.0 ? k[x] / ww : k[x];
      out[x] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
      pre[x + 1] = pre[x] + out[x];
      l1 += out[x] < 0 ? -int64_t{out[x]} : out[x];
    }
    // The int32 sums below (Pillow's too) cannot overflow while 255 * sum|w| + 2^21 < 2^31; bicubic
    // weights normalised to 1 have sum|w| <= 1.25 or so.
    IMP_CHECK_KIND(l1 < (int64_t{15} << (kPrecisionBits - 3)), ErrorKind::internal,
                   "resize: bicubic weights sum |w| = ", l1, " for ", in_size, " -> ", out_size);
    t.first[i] = lo;
    t.count[i] = n;
  }
  return t;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift, as in Pillow
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// The hot integer loops are compiled twice, for AVX2 and for the baseline, and picked at load time
// (integer sums: the same bits either way).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(IMP_IMAGE_NO_MULTIVERSION)
#define IMP_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define IMP_MULTIVERSION
#endif

constexpr int kRows = 8;        // canvas rows resampled horizontally together
constexpr int kMaxBlockCols = 1 << 16;  // wider images take the one-row path (the block buffer is 96 B/column)

// Horizontal pass of kRows rows at once. cols holds the image's visible columns widened to int32 as
// cols[(column * 3 + channel) * kRows + row]; column 0 is canvas column cx0. acc24 is scratch.
IMP_MULTIVERSION
void horizontal_block(const int32_t* cols, int cx0, int cx1, const int32_t* first, const int32_t* count,
                      const int32_t* weights, const int32_t* prefix, int ksize, int out_w, const uint8_t* bg,
                      bool pure, int rows, size_t row_bytes, uint8_t* out) {
  for (int x = 0; x < out_w; ++x) {
    const int f = first[x], n = count[x];
    const int32_t* k = weights + static_cast<size_t>(x) * ksize;
    int32_t acc[3 * kRows];
    int a = 0, b = n;
    int32_t base[3] = {kHalf, kHalf, kHalf};
    if (!pure) {
      const int32_t* p = prefix + static_cast<size_t>(x) * (ksize + 1);
      a = std::clamp(cx0 - f, 0, n);
      b = std::clamp(cx1 - f, a, n);
      const int32_t bgs = p[a] + p[n] - p[b];
      for (int c = 0; c < 3; ++c) base[c] += bg[c] * bgs;
    }
    for (int c = 0; c < 3; ++c)
      for (int r = 0; r < kRows; ++r) acc[c * kRows + r] = base[c];
    for (int j = a; j < b; ++j) {
      const int32_t kv = k[j];
      const int32_t* src = cols + static_cast<size_t>(f + j - cx0) * 3 * kRows;
      for (int i = 0; i < 3 * kRows; ++i) acc[i] += src[i] * kv;
    }
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < 3; ++c) out[r * row_bytes + 3 * static_cast<size_t>(x) + c] = clip8(acc[c * kRows + r]);
  }
}

// a[i] += h[i] * k over a row (the vertical pass).
IMP_MULTIVERSION
void accumulate_row(int32_t* a, const uint8_t* h, int32_t k, size_t n) {
  for (size_t i = 0; i < n; ++i) a[i] += h[i] * k;
}

// The resampler for one canvas and output size.
class Resampler {
 public:
  Resampler(const Canvas& c, int out_w, int out_h)
      : c_(c), out_w_(out_w), out_h_(out_h), need_h_(out_w != c.width), need_v_(out_h != c.height) {
    const Image& im = *c.img;
    cx0_ = std::max(c.ox, 0);
    cx1_ = std::min(c.ox + im.width, c.width);
    cy0_ = std::max(c.oy, 0);
    cy1_ = std::min(c.oy + im.height, c.height);
    IMP_CHECK_KIND(cx0_ < cx1_ && cy0_ < cy1_, ErrorKind::internal, "resize: the image does not overlap its canvas");
    if (need_h_) th_ = compute_taps(c.width, out_w);
    if (need_v_) tv_ = compute_taps(c.height, out_h);
    // The horizontal pass of a background row (or the background row itself when there is no such pass).
    const size_t row_bytes = static_cast<size_t>(out_w) * 3;
    bg_row_.resize(row_bytes);
    for (int x = 0; x < out_w; ++x) {
      const int32_t sum = need_h_ ? th_.p(x)[th_.count[x]] : 0;
      for (int ch = 0; ch < 3; ++ch)
        bg_row_[3 * x + ch] = need_h_ ? clip8(kHalf + c.bg[ch] * sum) : c.bg[ch];
    }
    row_.resize(row_bytes);
  }

  Image run() {
    Image out;
    out.width = out_w_;
    out.height = out_h_;
    out.rgb.resize(static_cast<size_t>(out_w_) * out_h_ * 3);
    const size_t row_bytes = static_cast<size_t>(out_w_) * 3;
    if (!need_v_) {  // canvas row y is output row y
      for (int y = 0; y < out_h_; ++y) std::memcpy(&out.rgb[y * row_bytes], canvas_row(y, cy1_), row_bytes);
      return out;
    }
    std::vector<int32_t> acc(static_cast<size_t>(kBand) * row_bytes);
    for (int y0 = 0; y0 < out_h_; y0 += kBand) {
      const int y1 = std::min(out_h_, y0 + kBand);
      // Background rows: colour(x) * (sum of the weights of the background taps).
      for (int y = y0; y < y1; ++y) {
        const int32_t bgs = tv_.outside(y, cy0_, cy1_);
        int32_t* a = &acc[(y - y0) * row_bytes];
        for (size_t i = 0; i < row_bytes; ++i) a[i] = kHalf + bg_row_[i] * bgs;
      }
      // Image rows: each intermediate row is added to the output rows of the band whose taps include it.
      const int r0 = std::max(tv_.first[y0], cy0_), r1 = std::min(tv_.end(y1 - 1), cy1_);
      int lo = y0;
      for (int r = r0; r < r1; ++r) {
        while (lo < y1 && tv_.end(lo) <= r) ++lo;
        if (lo >= y1 || tv_.first[lo] > r) continue;
        const uint8_t* h = canvas_row(r, r1);
        for (int y = lo; y < y1 && tv_.first[y] <= r; ++y)
          accumulate_row(&acc[(y - y0) * row_bytes], h, tv_.w(y)[r - tv_.first[y]], row_bytes);
      }
      for (int y = y0; y < y1; ++y) {
        const int32_t* a = &acc[(y - y0) * row_bytes];
        uint8_t* o = &out.rgb[y * row_bytes];
        for (size_t i = 0; i < row_bytes; ++i) o[i] = clip8(a[i]);
      }
    }
    return out;
  }

 private:
  // Canvas row y after the horizontal pass (out_w pixels). Image rows are resampled kRows at a time,
  // starting at y and stopping before `limit` (the caller's next rows); the pointer stays valid until
  // a row outside that block is asked for.
  const uint8_t* canvas_row(int y, int limit) {
    if (y < cy0_ || y >= cy1_) return bg_row_.data();
    const size_t row_bytes = static_cast<size_t>(out_w_) * 3;
    if (y >= block_y_ && y < block_y_ + block_n_) return &block_[(y - block_y_) * row_bytes];
    const Image& im = *c_.img;
    const auto src_row = [&](int cy) { return &im.rgb[static_cast<size_t>(cy - c_.oy) * im.width * 3]; };
    if (!need_h_) {  // the canvas row itself: background, then the image's visible part, then background
      const uint8_t* src = src_row(y);
      if (cx0_ == 0 && cx1_ == c_.width) return src + static_cast<size_t>(-c_.ox) * 3;
      std::memcpy(row_.data(), bg_row_.data(), row_.size());
      std::memcpy(&row_[static_cast<size_t>(cx0_) * 3], src + static_cast<size_t>(cx0_ - c_.ox) * 3,
                  static_cast<size_t>(cx1_ - cx0_) * 3);
      block_n_ = 0;
      return row_.data();
    }
    const bool pure = cx0_ == 0 && cx1_ == c_.width;  // no background columns
    const int ncols = cx1_ - cx0_;
    if (ncols <= kMaxBlockCols) {
      const int n = std::min({kRows, limit - y, cy1_ - y});
      cols_.resize(static_cast<size_t>(ncols) * 3 * kRows);
      for (int r = 0; r < n; ++r) {
        const uint8_t* src = src_row(y + r) + static_cast<size_t>(cx0_ - c_.ox) * 3;
        for (int i = 0; i < ncols * 3; ++i) cols_[static_cast<size_t>(i) * kRows + r] = src[i];
      }
      block_.resize(static_cast<size_t>(kRows) * row_bytes);
      horizontal_block(cols_.data(), cx0_, cx1_, th_.first.data(), th_.count.data(), th_.weights.data(),
                       th_.prefix.data(), th_.ksize, out_w_, c_.bg, pure, n, row_bytes, block_.data());
      block_y_ = y;
      block_n_ = n;
      return block_.data();
    }
    // One row at a time (images wider than kMaxBlockCols).
    const uint8_t* src = src_row(y);
    for (int x = 0; x < out_w_; ++x) {
      const int f = th_.first[x], n = th_.count[x];
      const int32_t* k = th_.w(x);
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      int a = 0, b = n;
      if (!pure) {
        a = std::clamp(cx0_ - f, 0, n);
        b = std::clamp(cx1_ - f, a, n);
        const int32_t bgs = th_.outside(x, cx0_, cx1_);
        s0 += c_.bg[0] * bgs;
        s1 += c_.bg[1] * bgs;
        s2 += c_.bg[2] * bgs;
      }
      if (a < b) {  // taps over the image: canvas column f + j is image column f + j - ox
        const uint8_t* p = src + static_cast<size_t>(f + a - c_.ox) * 3;
        for (int j = a; j < b; ++j, p += 3) {
          s0 += p[0] * k[j];
          s1 += p[1] * k[j];
          s2 += p[2] * k[j];
        }
      }
      row_[3 * x] = clip8(s0);
      row_[3 * x + 1] = clip8(s1);
      row_[3 * x + 2] = clip8(s2);
    }
    block_n_ = 0;
    return row_.data();
  }

  const Canvas& c_;
  const int out_w_, out_h_;
  const bool need_h_, need_v_;
  int cx0_ = 0, cx1_ = 0, cy0_ = 0, cy1_ = 0;  // the canvas area the image covers
  Taps th_, tv_;
  std::vector<uint8_t> bg_row_, row_, block_;
  std::vector<int32_t> cols_;
  int block_y_ = 0, block_n_ = 0;  // the rows block_ holds
};

}  // namespace

Image resize_canvas(const Canvas& c, int out_w, int out_h) {
  IMP_CHECK_KIND(c.img && c.img->width > 0 && c.img->height > 0 &&
                     c.img->rgb.size() == static_cast<size_t>(c.img->width) * static_cast<size_t>(c.img->height) * 3,
                 ErrorKind::internal, "resize: invalid input image");
  IMP_CHECK_KIND(c.width > 0 && c.height > 0 && c.width <= kMaxSide && c.height <= kMaxSide, ErrorKind::input,
                 "resize: a ", c.width, "x", c.height, " picture is too large to resample (sides up to ", kMaxSide, ")");
  IMP_CHECK_KIND(out_w > 0 && out_h > 0 && out_w <= kMaxSide && out_h <= kMaxSide, ErrorKind::usage,
                 "resize: invalid output size ", out_w, "x", out_h, " (sides 1..", kMaxSide, ")");
  return Resampler(c, out_w, out_h).run();
}

}  // namespace detail

Image resize_bicubic(const Image& in, int out_w, int out_h) {
  IMP_CHECK_KIND(in.width > 0 && in.height > 0 &&
                     in.rgb.size() == static_cast<size_t>(in.width) * static_cast<size_t>(in.height) * 3,
                 ErrorKind::internal, "resize_bicubic: invalid input image ", in.width, "x", in.height, " with ",
                 in.rgb.size(), " bytes");
  IMP_CHECK_KIND(out_w > 0 && out_h > 0, ErrorKind::usage, "resize_bicubic: invalid output size ", out_w, "x", out_h);
  if (out_w == in.width && out_h == in.height) return in;  // Pillow returns a copy
  return detail::resize_canvas(detail::Canvas{&in, in.width, in.height, 0, 0, {0, 0, 0}}, out_w, out_h);
}

}  // namespace imp::image
