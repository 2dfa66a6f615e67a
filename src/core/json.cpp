// JSON file helpers; see json.h.
#include "imp/core/json.h"

#include <set>
#include <vector>

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
  } catch (const Json::exception& e) {  // e.g. out_of_range for a number like 1e999
    IMP_FAIL(origin, ": malformed JSON: ", e.what());
  }
}

Json parse_json_strict(const std::string& text, const std::string& origin, size_t max_depth,
                       const std::string& hint) {
  std::vector<std::set<std::string>> keys;  // one set per open container
  auto fail = [&](const std::string& problem) { throw Error(origin + ": " + problem + hint, ErrorKind::input); };
  auto callback = [&](int, Json::parse_event_t ev, Json& parsed) {
    using E = Json::parse_event_t;
    if (ev == E::object_start || ev == E::array_start) {
      if (keys.size() >= max_depth) fail("JSON nested deeper than " + std::to_string(max_depth) + " levels");
      keys.emplace_back();
    } else if (ev == E::object_end || ev == E::array_end) {
      keys.pop_back();
    } else if (ev == E::key && !keys.back().insert(parsed.get<std::string>()).second) {
      fail("duplicate key '" + parsed.get<std::string>() + "'");
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    fail(std::string("not valid JSON: ") + e.what());
  }
  return {};
}

Json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

void write_json_file(const std::string& path, const Json& j) { atomic_write(path, j.dump(2) + "\n"); }

}  // namespace imp
