// The JSON entry point; see json.h.
#include "imp/core/json.h"

#include <sys/stat.h>

#include <set>
#include <utility>
#include <vector>

#include "imp/core/fs.h"

namespace imp {
namespace {

// 1-based line and column of byte `at`, which editors understand.
std::pair<size_t, size_t> line_col(const char* text, size_t size, size_t at) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < at && i < size; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

// "16 MiB", or "100 bytes" when not a whole number of MiB.
std::string size_text(uint64_t bytes) {
  const uint64_t m = json_limits::kMiB;
  return bytes % m == 0 ? std::to_string(bytes / m) + " MiB" : std::to_string(bytes) + " bytes";
}

[[noreturn]] void too_large(const std::string& origin, uint64_t size, const JsonLimits& limits) {
  throw Error(str(origin, ": ", size, " bytes is over the ", size_text(limits.max_bytes), " limit for ", limits.what,
                  "; no genuine ", limits.what, " is that large: the file is corrupt or not what its name says",
                  "\nhint: replace it with a known-good copy (re-download or re-export it)"),
              ErrorKind::input);
}

void check_size(const std::string& origin, uint64_t size, const JsonLimits& limits) {
  if (limits.max_bytes != 0 && size > limits.max_bytes) too_large(origin, size, limits);
}

// nlohmann's parse error -> "origin:line:col: malformed JSON: ..." (its byte offset is 1-based);
// out_of_range (a number like 1e999) has no position.
[[noreturn]] void malformed(const std::string& text, const std::string& origin, const Json::exception& e) {
  std::string where;
  if (const auto* pe = dynamic_cast<const Json::parse_error*>(&e)) {
    const auto [line, col] = line_col(text.data(), text.size(), pe->byte ? pe->byte - 1 : 0);
    where = str(":", line, ":", col);
  }
  throw Error(str(origin, where, ": malformed JSON: ", e.what()), ErrorKind::input);
}

}  // namespace

void check_json_limits(const char* text, size_t size, const std::string& origin, const JsonLimits& limits) {
  check_size(origin, size, limits);
  // Tracks strings the way nlohmann's lexer does, so a bracket inside a string is not counted; on
  // text that is not valid JSON the count may differ from nlohmann's past the first error, where
  // nlohmann stops building anyway.
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limits.max_depth) {
        const auto [line, col] = line_col(text, size, i);
        throw Error(str(origin, ": JSON nested deeper than ", limits.max_depth, " levels (line ", line, ", column ",
                        col, "), the limit for ", limits.what, "; no genuine ", limits.what,
                        " nests that deep: the file is corrupt or crafted to crash JSON readers",
                        "\nhint: replace it with a known-good copy (re-download or re-export it)"),
                    ErrorKind::input);
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

std::string read_json_text(const std::string& path, const JsonLimits& limits) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) check_size(path, static_cast<uint64_t>(st.st_size), limits);
  return read_text_file(path);  // a missing or unreadable file fails here, as ErrorKind::io
}

Json read_json_file(const std::string& path, const JsonLimits& limits) {
  return parse_json(read_json_text(path, limits), path, limits);
}

Json parse_json(const std::string& text, const std::string& origin, const JsonLimits& limits) {
  check_json_limits(text.data(), text.size(), origin, limits);
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    malformed(text, origin, e);
  }
}

OrderedJson parse_json_ordered(const std::string& text, const std::string& origin, const JsonLimits& limits) {
  check_json_limits(text.data(), text.size(), origin, limits);
  try {
    return OrderedJson::parse(text);
  } catch (const Json::exception& e) {
    malformed(text, origin, e);
  }
}

Json parse_json_strict(const std::string& text, const std::string& origin, const JsonLimits& limits,
                       const std::string& hint) {
  check_json_limits(text.data(), text.size(), origin, limits);
  std::vector<std::set<std::string>> keys;  // one set per open container
  auto callback = [&](int, Json::parse_event_t ev, Json& parsed) {
    using E = Json::parse_event_t;
    if (ev == E::object_start || ev == E::array_start) {
      keys.emplace_back();
    } else if (ev == E::object_end || ev == E::array_end) {
      keys.pop_back();
    } else if (ev == E::key && !keys.back().insert(parsed.get<std::string>()).second) {
      throw Error(origin + ": duplicate key '" + parsed.get<std::string>() + "'" + hint, ErrorKind::input);
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::exception& e) {  // nlohmann's message gives line and column
    throw Error(origin + ": not valid JSON: " + e.what() + hint, ErrorKind::input);
  }
}

std::vector<int64_t> json_int_list(const Json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_array()) return {json_or<int64_t>(j, key, 0, origin)};
  std::vector<int64_t> out;
  for (const Json& v : *it) {
    IMP_CHECK(v.is_number_integer(), origin, ": field '", key, "' must be an integer or a list of integers");
    out.push_back(v.get<int64_t>());
  }
  return out;
}

void write_json_file(const std::string& path, const Json& j) { atomic_write(path, j.dump(2) + "\n"); }

}  // namespace imp
