// File helpers shared by the scorers and submission writers: JSONL answers, order-preserving JSON
// (Python dicts keep insertion order, which some official sums depend on), Python-style keys for
// question ids, Python json.dumps-compatible output, and number formatting for the tables.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "imp/core/json.h"
#include "imp/eval/score.h"

namespace imp::eval {

// One JSON value per non-empty line ('\n' or "\r\n" endings); errors name file and line.
std::vector<Json> read_jsonl(const std::string& path);
OrderedJson read_json_ordered(const std::string& path);
// Key under which Python would find a question id: strings and numbers never compare equal
// ("1" != 1), so the type is part of the key.
std::string id_key(const Json& id);
std::string id_key(const OrderedJson& id);
// rec[key] as a string; errors name `origin`.
std::string string_field(const Json& rec, const char* key, const std::string& origin);
// The record's "question_id" (must exist).
const Json& question_id(const Json& rec, const std::string& origin);

// Python json.dumps(value) (ensure_ascii, ", " / ": " separators) or json.dumps(value, indent=n).
std::string py_json_dumps(const OrderedJson& value, int indent = -1);

// TSV as pandas.read_table reads it: tab-separated, '"' quotes a field ("" inside), quoted fields may hold
// tabs and line breaks, "\r\n" ends a record like "\n", blank lines are skipped. Errors name `origin`.
std::vector<std::vector<std::string>> parse_tsv(const std::string& text, const std::string& origin);

// "%.*f" formatting for tables.
std::string fixed(double v, int digits);

}  // namespace imp::eval
