// libFuzzer target: `imp serve`'s request parsing and message/content decoding (parse_chat_request:
// JSON, roles, content parts, data: URLs with base64 and the image header probe, file paths checked
// against an allowed folder, sampling parameters). Only ApiError may escape; the parsed request must
// hold one image per "<image>" marker it produced.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "imp/serve/openai.h"
#include "scratch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const imp::serve::RequestLimits limits = [] {
    imp::serve::RequestLimits l;
    l.max_image_bytes = 1 << 20;
    l.max_image_pixels = 1 << 20;
    l.allowed_image_dir = imp::fuzz::scratch_dir();
    return l;
  }();
  try {
    const auto pc = imp::serve::parse_chat_request(std::string(reinterpret_cast<const char*>(data), size), limits);
    size_t markers = 0;
    for (const auto& m : pc.request.messages)
      for (size_t at = m.text.find("<image>"); at != std::string::npos; at = m.text.find("<image>", at + 1)) ++markers;
    if (markers != pc.request.images.size() || pc.request.messages.empty()) std::abort();
    for (const auto& img : pc.request.images)
      if (img.empty() || img.size() > limits.max_image_bytes) std::abort();
  } catch (const imp::serve::ApiError& e) {
    if (e.status < 400 || e.status > 499) std::abort();
  }
  return 0;
}
