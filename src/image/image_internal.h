// Internals of imp_image shared by its .cpp files (not installed, not part of the API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "imp/image/image.h"

namespace imp::image::detail {

// What parse_header learnt from the first bytes of a file.
struct Header {
  Format format = Format::jpeg;
  int64_t width = 0, height = 0;
  int png_bit_depth = 0, png_color_type = 0;  // PNG IHDR
  int jpeg_components = 0, jpeg_precision = 0;  // JPEG SOF
  int bmp_bpp = 0;
  uint32_t bmp_compression = 0;
  uint32_t bmp_masks[3] = {0, 0, 0};
};

// Sniffs the format and parses the header; enforces DecodeLimits (max_bytes, max_pixels).
Header parse_header(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits);

// The whole file; io errors for a missing/unreadable path or a directory, input error if it is larger
// than limits.max_bytes (checked with fstat before reading).
std::vector<uint8_t> read_file(const std::string& path, const DecodeLimits& limits);

// Decoders: return the RGB image of a file whose header is h.
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& origin, const Header& h);
Image decode_opencv(const uint8_t* data, size_t size, const std::string& origin, const Header& h);

// A width x height picture made of `img` placed with its top-left corner at (ox, oy) (it may hang over
// the edges: a crop) on a background of colour bg (where it does not cover: a pad).
struct Canvas {
  const Image* img = nullptr;
  int width = 0, height = 0;
  int ox = 0, oy = 0;
  uint8_t bg[3] = {0, 0, 0};
};

// Longest canvas or output side resize_canvas accepts (its weight tables grow with the input side).
constexpr int kMaxSide = 1 << 22;

// Pillow's BICUBIC resize of the canvas, bit-exact, without building the canvas (resize.cpp).
Image resize_canvas(const Canvas& c, int out_w, int out_h);

}  // namespace imp::image::detail
