// The table of training flags (name, aliases, group, member, help, allowed values, notices): the one
// place that parsing, --config, to_json/from_json and --help read. Internal to src/train/args.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "imp/core/error.h"
#include "imp/train/args.h"

namespace imp::train::detail {

using Member = std::variant<bool TrainArgs::*, int64_t TrainArgs::*, double TrainArgs::*, std::string TrainArgs::*,
                            std::optional<int64_t> TrainArgs::*, std::optional<double> TrainArgs::*,
                            std::vector<std::string> TrainArgs::*>;
// Same order as Member's alternatives.
enum class Kind { boolean, integer, number, text, opt_integer, opt_number, list };

using Notices = std::vector<std::string>;
// Where a value came from, for error messages: "--learning_rate" (usage error) or
// "cfg.json: key 'learning_rate'" (input error).
struct Source {
  std::string where;
  ErrorKind kind;
};

struct FieldSpec {
  const char* name;      // canonical snake_case name
  const char* group;     // help-text section
  Member member;
  const char* help;
  std::vector<std::string> choices;  // text fields: the allowed (canonical) values; empty = any
  std::vector<std::string> aliases;  // other accepted names (snake_case)
  const char* choice_hint = "";     // appended to the error for a value outside `choices`
  bool required = false;
  // A text field that also takes HF boolean syntax: alone = true, --no_<name> = false (adjust maps them).
  bool bare_true = false;
  // Called before the type check: canonicalises aliases (adamw_hf -> adamw_torch, "5m" -> 300,
  // "true" -> "auto") and adds notices for accepted-but-ignored settings.
  void (*adjust)(nlohmann::json& value, const Source& src, Notices& notices) = nullptr;

  Kind kind() const { return static_cast<Kind>(member.index()); }
};

const std::vector<FieldSpec>& field_specs();
// "per-device-train-batch-size" -> "per_device_train_batch_size" (leading dashes removed too).
std::string normalize_name(const std::string& name);
// By canonical name or alias, in either spelling; nullptr when unknown.
const FieldSpec* find_field(const std::string& name);

// Stores `value` (JSON-typed: bool, integer, number, string, array of strings, or null for optional
// fields) into the field after `adjust`; wrong types and values outside `choices` throw with src.where.
void assign_field(TrainArgs& a, const FieldSpec& f, nlohmann::json value, const Source& src, Notices& notices);
nlohmann::json field_value(const TrainArgs& a, const FieldSpec& f);
// Throws unless `value` is one of f.choices (or f.choices is empty).
void check_choice(const FieldSpec& f, const std::string& value, const Source& src);

// Sets every key of a JSON object (keys in either spelling); unknown keys, a field given twice and
// wrong types throw imp::Error(input) naming `origin` and the key.
void apply_json_object(TrainArgs& a, const nlohmann::json& j, const std::string& origin, Notices& notices);
// The known name closest to `name` (flag names, aliases and `extra`) when it is close enough to be a
// likely typo; empty otherwise.
std::string suggest_name(const std::string& name, const std::vector<std::string>& extra = {});

// Text helpers shared by the argv parser and the checks.
std::optional<bool> parse_bool_literal(const std::string& text);  // True/False/true/false/1/0/yes/no
std::optional<int64_t> parse_int(const std::string& text);
std::optional<double> parse_double(const std::string& text);       // finite only
std::optional<int64_t> parse_duration_seconds(const std::string& text);  // "90", "20s", "5m", "1h"
std::string join(const std::vector<std::string>& items, const char* sep);

}  // namespace imp::train::detail
