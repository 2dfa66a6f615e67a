// JSON helpers over nlohmann::json: reading files with file:line:column errors, typed optional fields.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "imp/core/error.h"

namespace imp {

using Json = nlohmann::json;

// Parses a JSON file; errors name the file and the line/column of the problem.
Json read_json_file(const std::string& path);
// Parses JSON text; `origin` names the source in errors.
Json parse_json(const std::string& text, const std::string& origin);
// Parses untrusted JSON strictly: duplicate keys (which nlohmann would silently keep the last of)
// and nesting deeper than max_depth are errors; `hint` is appended to every message.
Json parse_json_strict(const std::string& text, const std::string& origin, size_t max_depth = 64,
                       const std::string& hint = "");
// Writes JSON (indent 2, trailing newline) atomically: temp file + rename.
void write_json_file(const std::string& path, const Json& j);

// j[key] as T, or `fallback` when the key is absent or null. Wrong types throw with the key name.
template <typename T>
T json_or(const Json& j, const char* key, T fallback, const std::string& origin = "config") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const std::exception& e) {
    IMP_FAIL(origin, ": field '", key, "' has the wrong type (", it->type_name(), "): ", e.what());
  }
}

template <typename T>
std::optional<T> json_opt(const Json& j, const char* key, const std::string& origin = "config") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return json_or<T>(j, key, T{}, origin);
}

}  // namespace imp
