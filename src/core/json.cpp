// JSON file helpers; see json.h.
#include "imp/core/json.h"

#include "imp/core/fs.h"

namespace imp {

Json parse_json(const std::string& text, const std::string& origin) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // Turn nlohmann's byte offset into line:column, which editors understand.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    IMP_FAIL(origin, ":", line, ":", col, ": malformed JSON: ", e.what());
  }
}

Json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

void write_json_file(const std::string& path, const Json& j) { atomic_write(path, j.dump(2) + "\n"); }

}  // namespace imp
