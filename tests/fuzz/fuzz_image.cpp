// libFuzzer target for imp::image (reliability §1d): every input goes through probe_bytes and
// decode_bytes, and a decoded image through process() in all three aspect modes at a small size. A
// sanitizer report, any exception other than imp::Error, or a result that breaks the API's guarantees
// (decoded size = header size, rgb.size() = w*h*3, a [3, s, s] output) is a crash. Built and run by
// tests/fuzz/run_fuzzers.sh (ASan + UBSan); OpenCV and libjpeg themselves are not instrumented.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "imp/core/error.h"
#include "imp/image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace imp::image;
  DecodeLimits limits;
  limits.max_pixels = int64_t{1} << 18;  // keep each run fast; the limit logic is the same at any value
  limits.max_bytes = int64_t{1} << 24;
  ImageInfo info;
  bool probed = false;
  try {
    info = probe_bytes(data, size, "fuzz.img", limits);
    probed = true;
  } catch (const imp::Error&) {
  }
  Image im;
  try {
    im = decode_bytes(data, size, "fuzz.img", limits);
  } catch (const imp::Error&) {
    return 0;
  }
  if (!probed || im.width != info.width || im.height != info.height || im.width <= 0 || im.height <= 0 ||
      im.rgb.size() != static_cast<size_t>(im.width) * im.height * 3)
    std::abort();
  ProcessorConfig cfg;
  cfg.size = 4 + static_cast<int>(size % 13);
  cfg.reference_channel_quirk = (size & 1) != 0;
  for (AspectMode mode : {AspectMode::square, AspectMode::pad, AspectMode::crop}) {
    try {
      const std::vector<float> out = process(im, mode, cfg);
      if (out.size() != static_cast<size_t>(3) * cfg.size * cfg.size) std::abort();
    } catch (const imp::Error&) {
      // Only the reference's failure on images 1 pixel high is allowed here.
      if (!cfg.reference_channel_quirk) std::abort();
    }
  }
  return 0;
}
