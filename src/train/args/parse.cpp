// argv -> ParsedArgs with HfArgumentParser semantics: `--a_b v`, `--a-b=v`, HF booleans, `--no_flag`,
// `--config file.json` (flags override it wherever they appear), unknown flags with a suggestion.
#include <algorithm>
#include <optional>

#include "fields.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"

namespace imp::train {

using nlohmann::json;
using detail::FieldSpec;
using detail::Kind;

namespace {

struct Assignment {
  const FieldSpec* field;
  json value;
  std::string flag;  // as typed, normalised: "--per_device_train_batch_size"
};

[[noreturn]] void usage(const std::string& message) { throw Error(message, ErrorKind::usage); }

bool is_help(const std::string& token) { return token == "-h" || token == "--help"; }
// A token that cannot be a flag's value: the next flag.
bool looks_like_flag(const std::string& token) { return token.rfind("--", 0) == 0 || token == "-h"; }

// One CLI value as JSON of the field's type where the text allows it; otherwise the text itself, which
// assign_field then reports ("expected a number, got 'abc'") after the field's adjust hook saw it.
json typed_value(const FieldSpec& f, const std::string& text) {
  const bool unset = text == "None" || text == "none" || text == "null";  // optional fields only
  switch (f.kind()) {
    case Kind::boolean:
      if (auto b = detail::parse_bool_literal(text)) return *b;
      return text;
    case Kind::opt_integer:
    case Kind::integer:
      if (f.kind() == Kind::opt_integer && unset) return nullptr;
      if (auto v = detail::parse_int(text)) return *v;
      return text;
    case Kind::opt_number:
    case Kind::number:
      if (f.kind() == Kind::opt_number && unset) return nullptr;
      if (auto v = detail::parse_double(text)) return *v;
      return text;
    case Kind::text: return text;
    case Kind::list: return json::array({text});
  }
  return text;
}

std::string unknown_flag_message(const std::string& token, const std::string& name) {
  std::string hint = detail::suggest_name(name, {"config", "print_config", "print_memory_plan", "world_size", "help"});
  return "unknown flag " + token + (hint.empty() ? "" : "; did you mean --" + hint + "?") +
         " (see --help for the list)";
}

// --zero_stage unset: the stage of the --deepspeed JSON when it exists and names one (Imp's scripts give
// zero2.json / zero3.json: imp shards optimizer state only, so stages 2 and 3 run as 1).
void resolve_zero_stage(TrainArgs& a, std::vector<std::string>& notices) {
  if (a.zero_stage || a.deepspeed.empty() || !path_exists(a.deepspeed) || is_directory(a.deepspeed)) return;
  const json ds = read_json_file(a.deepspeed, json_limits::deepspeed_config);
  if (!ds.is_object() || !ds.contains("zero_optimization")) return;
  const json& zero = ds.at("zero_optimization");
  if (!zero.is_object() || !zero.contains("stage")) return;
  const json& stage = zero.at("stage");
  if (!stage.is_number_integer() || stage.get<int64_t>() < 0 || stage.get<int64_t>() > 3)
    throw Error(a.deepspeed + ": zero_optimization.stage must be 0, 1, 2 or 3, got " + stage.dump(), ErrorKind::input);
  const int64_t s = stage.get<int64_t>();
  a.zero_stage = std::min<int64_t>(s, 1);
  if (s > 1)
    notices.push_back(a.deepspeed + ": zero_optimization.stage " + std::to_string(s) +
                      " runs as ZeRO stage 1 (imp shards AdamW state and fp32 masters; gradients and weights stay "
                      "whole on every rank)");
}

}  // namespace

ParsedArgs parse_train_args(Stage stage, const std::vector<std::string>& argv) {
  ParsedArgs out;
  out.args = stage_defaults(stage);
  if (std::any_of(argv.begin(), argv.end(), is_help)) {
    out.help = true;
    return out;
  }

  std::optional<std::string> config_path;
  std::vector<Assignment> assignments;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& token = argv[i];
    if (token.rfind("--", 0) != 0) {
      if (token.size() > 1 && token[0] == '-' && !detail::parse_double(token))
        usage(unknown_flag_message(token, token));
      std::string after = i > 0 && argv[i - 1].rfind("--", 0) == 0 ? " after " + argv[i - 1] : "";
      usage("unexpected argument '" + token + "'" + after +
            " (flags are --name value or --name=value; booleans take True/False)");
    }
    size_t eq = token.find('=');
    std::string name = detail::normalize_name(token.substr(0, eq));
    std::optional<std::string> inline_value;
    if (eq != std::string::npos) inline_value = token.substr(eq + 1);
    const std::string flag = "--" + name;

    // The next token as this flag's value; missing when absent or when it is the next flag.
    auto take_value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argv.size() || looks_like_flag(argv[i + 1])) usage(flag + " needs a value");
      return argv[++i];
    };
    // HF boolean: alone = true; a following True/False/1/0/yes/no literal is consumed.
    auto take_bool = [&]() -> json {
      if (inline_value) {
        if (auto b = detail::parse_bool_literal(*inline_value)) return *b;
        return *inline_value;  // reported as a wrong type
      }
      if (i + 1 < argv.size()) {
        if (auto b = detail::parse_bool_literal(argv[i + 1])) {
          ++i;
          return *b;
        }
      }
      return true;
    };

    if (name == "config") {
      config_path = take_value();
      if (config_path->empty()) usage("--config needs a file name");
      continue;
    }
    if (name == "print_memory_plan") {
      json v = take_bool();
      if (!v.is_boolean()) usage("--print_memory_plan takes True/False, got '" + v.get<std::string>() + "'");
      out.print_memory_plan = v.get<bool>();
      continue;
    }
    if (name == "world_size") {
      auto n = detail::parse_int(take_value());
      if (!n || *n < 1) usage("--world_size (of --print_memory_plan) needs a positive integer");
      out.plan_world_size = *n;
      continue;
    }
    if (name == "print_config") {
      json v = take_bool();
      if (!v.is_boolean()) usage("--print_config takes True/False, got '" + v.get<std::string>() + "'");
      out.print_config = v.get<bool>();
      continue;
    }
    const FieldSpec* f = detail::find_field(name);
    if (!f && name.rfind("no_", 0) == 0) {  // HF: --no_gradient_checkpointing
      const FieldSpec* negated = detail::find_field(name.substr(3));
      if (negated && (negated->kind() == Kind::boolean || negated->bare_true)) {
        if (inline_value) usage(flag + " takes no value");
        assignments.push_back({negated, false, flag});
        continue;
      }
    }
    if (!f) usage(unknown_flag_message(token.substr(0, eq), name));

    json value;
    if (f->kind() == Kind::boolean) {
      value = take_bool();
    } else if (f->bare_true && !inline_value && (i + 1 >= argv.size() || looks_like_flag(argv[i + 1]))) {
      value = true;
    } else if (f->kind() == Kind::list) {  // nargs="+": every following token up to the next flag
      value = json::array();
      if (inline_value) value.push_back(*inline_value);
      while (!inline_value && i + 1 < argv.size() && !looks_like_flag(argv[i + 1])) value.push_back(argv[++i]);
      if (value.empty()) usage(flag + " needs a value");
    } else {
      value = typed_value(*f, take_value());
    }
    assignments.push_back({f, value, flag});
  }

  if (config_path) {
    const auto& limits = json_limits::train_config;
    const std::string text = read_json_text(*config_path, limits);
    const json config = parse_json(text, *config_path, limits);  // syntax errors with line:column
    parse_json_strict(text, *config_path, limits);               // a key written twice is an error, not last-wins
    detail::apply_json_object(out.args, config, *config_path, out.notices);
  }
  for (const auto& as : assignments)
    detail::assign_field(out.args, *as.field, as.value, detail::Source{as.flag, ErrorKind::usage}, out.notices);
  resolve_zero_stage(out.args, out.notices);
  if (out.print_memory_plan) {  // a plan needs no data and writes nothing: those two may be left out
    TrainArgs checked = out.args;
    if (checked.data_path.empty()) checked.data_path = "(not needed for the plan)";
    if (checked.output_dir.empty()) checked.output_dir = "(not needed for the plan)";
    validate(checked, stage);
  } else {
    validate(out.args, stage);
  }
  return out;
}

}  // namespace imp::train
