// imp::image: decoding image files to 8-bit RGB and Imp's pixel preprocessing, bit-exact with what the
// Python reference computes (Pillow 9.4 `Image.open(...).convert("RGB")`, Pillow's BICUBIC resize and
// Imp's ImpImageProcessor on transformers 4.41; docs: imp-reference §3, tests/data/images/README.md).
// Torch-free. Every byte of an image file is treated as hostile (design/reliability.md §1d): a bad file
// throws imp::Error (ErrorKind::input; io for a missing or unreadable file) naming the file and the problem.
//
// Formats: JPEG (libjpeg-turbo directly: Pillow's CMYK/YCCK conversion and truncation rule), PNG, BMP
// and WebP (OpenCV imgcodecs). Anything else (GIF, TIFF, ...) is rejected as unsupported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imp::image {

// 8-bit RGB, row-major HWC without padding: rgb.size() == width * height * 3.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

struct DecodeLimits {
  // Width * height above this is rejected before decoding (a "decompression bomb"). The default is
  // Pillow's Image.MAX_IMAGE_PIXELS; Pillow itself only warns there and raises above twice it.
  int64_t max_pixels = 89478485;
  int64_t max_bytes = int64_t{256} << 20;  // larger files are rejected without being read
};

enum class Format { jpeg, png, bmp, webp };
const char* format_name(Format f);  // "JPEG", "PNG", ...

// What the header says, without decoding pixels (cheap; for dataset validation).
struct ImageInfo {
  Format format = Format::jpeg;
  int width = 0, height = 0;
};

// Sniffs the format from the content (never from the file name) and reads the size from the header.
// Throws like decode_*: unsupported/unknown format, truncated header, zero or over-limit size.
ImageInfo probe_bytes(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits = {});
ImageInfo probe_file(const std::string& path, const DecodeLimits& limits = {});

// Decodes the first frame and converts it to RGB exactly as Pillow's convert("RGB") does (see the
// README for every mode). No EXIF rotation, no ICC/gamma handling, alpha dropped (not composited).
// `origin` names the data in error messages (usually the path).
Image decode_bytes(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits = {});
Image decode_file(const std::string& path, const DecodeLimits& limits = {});

// Pillow's Image.resize(size, BICUBIC) on an RGB image (libImaging/Resample.c, 8 bits per channel,
// 22-bit fixed-point coefficients), bit-exact. Returns a copy when the size is unchanged.
Image resize_bicubic(const Image& in, int out_w, int out_h);

// Imp's expand2square: a max(w,h) square filled with (r,g,b), the image pasted at ((side-w)/2,
// (side-h)/2) rounded down. Returns a copy when already square.
Image expand2square(const Image& in, uint8_t r, uint8_t g, uint8_t b);
// Imp's 'crop' mode: the centred min(w,h) square (offset (w-h)/2 or (h-w)/2, rounded down).
Image center_crop_square(const Image& in);

// image_aspect_ratio of the Imp config: square = squash, pad = expand2square, crop = centre crop.
enum class AspectMode { square, pad, crop };
AspectMode parse_aspect_mode(const std::string& s);  // "square" | "pad" | "crop"; usage error otherwise

struct ProcessorConfig {
  int size = 384;  // output side; 4..8192
  // Doubles like Python's floats: the pad colour is int(mean * 255) computed in double and the
  // normalisation uses float32(mean), float32(std), as numpy does.
  double mean[3] = {0.5, 0.5, 0.5};
  double std[3] = {0.5, 0.5, 0.5};
  double rescale = 1.0 / 255.0;
  // transformers guesses the channel axis of the HWC array (infer_channel_dimension_format): an image
  // whose height is 3 is taken for a channels-first array and is resized transposed, and one whose height
  // is 1 makes the reference raise (normalize: "mean must have 1 elements"). true reproduces both (the
  // latter as an imp::Error); false processes such images like any other.
  bool reference_channel_quirk = true;
};

// ImpImageProcessor.preprocess after the aspect-ratio step: CHW float32 [3, size, size] =
// (float32(float64(u8) * rescale) - float32(mean)) / float32(std) of the BICUBIC-resized image.
std::vector<float> process(const Image& img, AspectMode mode, const ProcessorConfig& cfg = {});

}  // namespace imp::image
