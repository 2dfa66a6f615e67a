// The --help text of imp pretrain / finetune-lora / finetune, generated from the flag table.
#include <sstream>

#include "fields.h"

namespace imp::train {

namespace {

const char* metavar(detail::Kind k) {
  switch (k) {
    case detail::Kind::boolean: return "[BOOL]";
    case detail::Kind::integer:
    case detail::Kind::opt_integer: return "INT";
    case detail::Kind::number:
    case detail::Kind::opt_number: return "FLOAT";
    case detail::Kind::text: return "STR";
    case detail::Kind::list: return "STR...";
  }
  return "";
}

std::string default_text(const nlohmann::json& v) {
  if (v.is_null()) return "unset";
  if (v.is_string()) return v.get<std::string>().empty() ? "\"\"" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_array()) return v.empty() ? "none" : detail::join(v.get<std::vector<std::string>>(), ",");
  return v.dump();
}

void line(std::ostringstream& out, const std::string& left, const std::string& right) {
  const size_t width = 38;
  out << "  " << left;
  if (left.size() + 2 < width) {
    out << std::string(width - left.size() - 2, ' ');
  } else {
    out << "\n" << std::string(width, ' ');
  }
  out << right << "\n";
}

}  // namespace

std::string train_args_help(Stage stage) {
  const TrainArgs defaults = stage_defaults(stage);
  std::ostringstream out;
  out << "Usage: imp " << stage_name(stage)
      << " --model_name_or_path DIR --data_path FILE --output_dir DIR [flags]\n\n"
      << "Flags are those of Imp's train.py (HF TrainingArguments): --name value or --name=value, with '_' or '-'.\n"
      << "Booleans: --flag alone means True; --flag True|False|1|0|yes|no; --no_flag means False.\n"
      << "Defaults below are those of imp " << stage_name(stage) << "; docs/training-flags.md explains each.\n\n"
      << "General:\n";
  line(out, "--config FILE", "JSON object with the same keys; flags override it wherever they appear");
  line(out, "--print_config", "print the resolved configuration as JSON and exit");
  line(out, "-h, --help", "this text");

  std::string group;
  for (const auto& f : detail::field_specs()) {
    if (group != f.group) {
      group = f.group;
      out << "\n" << group << ":\n";
    }
    std::string right = f.help;
    if (!f.choices.empty() && f.choices.size() > 1) right += " {" + detail::join(f.choices, ",") + "}";
    right += f.required ? " (required)" : " [default: " + default_text(detail::field_value(defaults, f)) + "]";
    for (const auto& alias : f.aliases) right += " (alias --" + alias + ")";
    line(out, std::string("--") + f.name + " " + metavar(f.kind()), right);
  }
  return out.str();
}

}  // namespace imp::train
