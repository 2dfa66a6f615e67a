// Typed access to tokenizer JSON with errors that name the file and the field path
// ("tokenizer.json: normalizer.normalizers[1].content: expected a string, got number"), so a
// truncated or hand-edited file says exactly what is wrong instead of throwing nlohmann's message.
#pragma once

#include <cstdint>
#include <string>

#include "imp/core/error.h"
#include "imp/core/json.h"

namespace imp::text::detail {

// Where a value sits: the file (origin) and the path inside it.
struct Where {
  std::string origin, path;
  Where at(const std::string& key) const { return {origin, path.empty() ? key : path + "." + key}; }
  Where at(size_t index) const { return {origin, path + "[" + std::to_string(index) + "]"}; }
  std::string str() const { return path.empty() ? origin : origin + ": " + path; }
};

// Nested normalizers/pre-tokenizers/decoders/post-processors are parsed (and later applied)
// recursively; real files nest 2 deep. This bound keeps the recursion shallow on its own, besides the
// 64-level nesting limit every tokenizer.json passes before it is parsed (imp/core/json.h).
constexpr int kMaxNesting = 32;

inline const Json& expect_object(const Json& j, const Where& w) {
  IMP_CHECK(j.is_object(), w.str(), ": expected an object, got ", j.type_name());
  return j;
}

inline const Json& expect_array(const Json& j, const Where& w) {
  IMP_CHECK(j.is_array(), w.str(), ": expected an array, got ", j.type_name());
  return j;
}

inline const Json& require(const Json& obj, const char* key, const Where& w) {
  expect_object(obj, w);
  auto it = obj.find(key);
  IMP_CHECK(it != obj.end(), w.str(), ": missing field '", key, "'");
  return *it;
}

inline const Json* find_field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

inline std::string as_string(const Json& j, const Where& w) {
  IMP_CHECK(j.is_string(), w.str(), ": expected a string, got ", j.type_name());
  return j.get<std::string>();
}

inline bool as_bool(const Json& j, const Where& w) {
  IMP_CHECK(j.is_boolean(), w.str(), ": expected true/false, got ", j.type_name());
  return j.get<bool>();
}

inline int64_t as_int(const Json& j, const Where& w, int64_t lo, int64_t hi) {
  IMP_CHECK(j.is_number_integer(), w.str(), ": expected an integer, got ", j.type_name());
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    IMP_CHECK(u <= static_cast<uint64_t>(hi), w.str(), ": ", u, " is out of range [", lo, ", ", hi, "]");
    return static_cast<int64_t>(u);
  }
  const int64_t v = j.get<int64_t>();
  IMP_CHECK(v >= lo && v <= hi, w.str(), ": ", v, " is out of range [", lo, ", ", hi, "]");
  return v;
}

inline std::string string_or(const Json& obj, const char* key, const std::string& fallback, const Where& w) {
  const Json* v = find_field(obj, key);
  return v ? as_string(*v, w.at(key)) : fallback;
}

inline bool bool_or(const Json& obj, const char* key, bool fallback, const Where& w) {
  const Json* v = find_field(obj, key);
  return v ? as_bool(*v, w.at(key)) : fallback;
}

// The "type" of a component ("BPE", "Sequence", ...).
inline std::string type_of(const Json& j, const Where& w) { return as_string(require(j, "type", w), w.at("type")); }

}  // namespace imp::text::detail
