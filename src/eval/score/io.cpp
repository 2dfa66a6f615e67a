// JSONL/JSON readers, question-id keys and Python-compatible JSON output; see score_io.h.
#include "imp/eval/score_io.h"

#include <cmath>
#include <cstdio>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/utf8.h"
#include "imp/eval/score_text.h"

namespace imp::eval {

std::vector<Json> read_jsonl(const std::string& path) {
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, path, ": file not found");
  const std::string text = read_text_file(path);
  std::vector<Json> records;
  size_t start = 0, line_no = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (py::strip(line).empty()) continue;
    records.push_back(parse_json(line, path + ":" + std::to_string(line_no), json_limits::eval_data));
  }
  return records;
}

OrderedJson read_json_ordered(const std::string& path) {
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, path, ": file not found");
  return parse_json_ordered(read_json_text(path, json_limits::eval_data), path, json_limits::eval_data);
}

namespace {
template <typename J>
std::string key_of(const J& id) {
  if (id.is_string()) return "s:" + id.template get<std::string>();
  if (id.is_number_integer() || id.is_number_unsigned()) return "n:" + id.dump();
  if (id.is_number_float()) {  // Python: 3.0 == 3
    const double v = id.template get<double>();
    if (std::isfinite(v) && std::fabs(v) < 9e18 && v == std::trunc(v))
      return "n:" + std::to_string(static_cast<long long>(v));
    return "f:" + id.dump();
  }
  return "j:" + id.dump();
}
}  // namespace

std::string id_key(const Json& id) { return key_of(id); }
std::string id_key(const OrderedJson& id) { return key_of(id); }

std::string string_field(const Json& rec, const char* key, const std::string& origin) {
  auto it = rec.find(key);
  IMP_CHECK(rec.is_object() && it != rec.end(), origin, ": missing field '", key, "'");
  IMP_CHECK(it->is_string(), origin, ": field '", key, "' must be a string, got ", it->type_name());
  return it->get<std::string>();
}

const Json& question_id(const Json& rec, const std::string& origin) {
  IMP_CHECK(rec.is_object() && rec.contains("question_id"), origin, ": missing field 'question_id'");
  return rec.at("question_id");
}

namespace {

void dump_string(std::string& out, std::string_view s) {
  out += '"';
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    const uint32_t cp = py::decode(s, i, &n);
    i += n;
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {  // surrogate pair
      const uint32_t v = cp - 0x10000;
      std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      out += buf;
    }
  }
  out += '"';
}

// Recursive: the depth of `v` is bounded by the JSON limits of the files it was read from (core/json.h).
void dump(std::string& out, const OrderedJson& v, int indent, int level) {
  const bool pretty = indent >= 0;
  auto newline = [&](int lvl) {
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  if (v.is_object() || v.is_array()) {
    const bool obj = v.is_object();
    if (v.empty()) {
      out += obj ? "{}" : "[]";
      return;
    }
    out += obj ? '{' : '[';
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out += pretty ? "," : ", ";
      first = false;
      if (pretty) newline(level + 1);
      if (obj) {
        dump_string(out, it.key());
        out += ": ";
      }
      dump(out, *it, indent, level + 1);
    }
    if (pretty) newline(level);
    out += obj ? '}' : ']';
  } else if (v.is_string()) {
    dump_string(out, v.get_ref<const std::string&>());
  } else if (v.is_boolean()) {
    out += v.get<bool>() ? "true" : "false";
  } else if (v.is_null()) {
    out += "null";
  } else if (v.is_number_float()) {
    // Python repr of a float; whole numbers keep ".0".
    std::string s = v.dump();
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    out += s;
  } else {
    out += v.dump();
  }
}

}  // namespace

std::string py_json_dumps(const OrderedJson& value, int indent) {
  std::string out;
  dump(out, value, indent, 0);
  return out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// (pandas.read_table) Splits TSV text into records: '"' quotes a field (doubled inside), quoted fields may hold tabs and
// line breaks; "\r\n" ends a record like "\n".
std::vector<std::vector<std::string>> parse_tsv(const std::string& text, const std::string& origin) {
  const size_t bad = find_invalid_utf8(text);  // pandas decodes UTF-8 first and raises on this
  IMP_CHECK(bad == std::string_view::npos, origin, ": not valid UTF-8 (at byte ", bad, ")");
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> rec;
  std::string field;
  bool quoted = false, field_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == '\t') {
      rec.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rec.push_back(field);
      field.clear();
      field_started = false;
      if (!(rec.size() == 1 && rec[0].empty())) records.push_back(rec);  // pandas skips blank lines
      rec.clear();
    } else {
      field += c;
      field_started = true;
    }
  }
  IMP_CHECK(!quoted, origin, ": a quoted field is not closed");
  if (field_started || !rec.empty()) {
    rec.push_back(field);
    records.push_back(rec);
  }
  return records;
}


}  // namespace imp::eval
