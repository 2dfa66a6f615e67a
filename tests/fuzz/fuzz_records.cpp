// libFuzzer target: the dataset scanner and record parser (scan_json_array -> parse_json_strict ->
// parse_record -> template rendering) on arbitrary bytes. Only imp::Error may escape.
#include <cstddef>
#include <cstdint>

#include "imp/core/error.h"
#include "imp/core/json.h"
#include "imp/data/conversation.h"
#include "imp/data/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  try {
    for (const auto& [b, e] : imp::data::scan_json_array(text, size, "fuzz")) {
      try {
        const auto j = imp::parse_json_strict(std::string(text + b, e - b), "fuzz", imp::json_limits::dataset_record);
        auto r = imp::data::parse_record(j, "fuzz");
        std::vector<std::string> messages;
        for (const auto& t : r.conversations) messages.push_back(t.value);
        for (const char* v : {"phi2", "qwen1.5", "phi3"}) imp::data::render(imp::data::get_template(v), messages);
      } catch (const imp::Error&) {
      }
    }
  } catch (const imp::Error&) {
  }
  return 0;
}
