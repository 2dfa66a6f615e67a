// Stage defaults, to_json / from_json and the JSON-object loader shared with --config; see args.h.
#include <algorithm>
#include <map>

#include "fields.h"

namespace imp::train {

using nlohmann::json;

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::pretrain: return "pretrain";
    case Stage::finetune_lora: return "finetune-lora";
    case Stage::finetune: return "finetune";
  }
  return "?";
}

TrainArgs stage_defaults(Stage stage) {
  TrainArgs a;
  a.tune_mm_mlp_adapter = stage == Stage::pretrain;
  a.lora_enable = stage == Stage::finetune_lora;
  return a;
}

json TrainArgs::to_json() const {
  json j = json::object();
  for (const auto& f : detail::field_specs()) j[f.name] = detail::field_value(*this, f);
  return j;
}

TrainArgs TrainArgs::from_json(const json& j, const std::string& origin) {
  TrainArgs a;
  detail::Notices ignored;
  detail::apply_json_object(a, j, origin, ignored);
  return a;
}

namespace detail {

void apply_json_object(TrainArgs& a, const json& j, const std::string& origin, Notices& notices) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object of training arguments, got " + j.type_name());
  std::map<std::string, std::string> seen;  // field -> the key that set it
  for (const auto& [key, value] : j.items()) {
    const FieldSpec* f = find_field(key);
    if (!f) {
      std::string hint = suggest_name(key);
      throw Error(origin + ": unknown key '" + key + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                  " (keys are the flag names, see imp <stage> --help)");
    }
    auto [it, fresh] = seen.emplace(f->name, key);
    if (!fresh) throw Error(origin + ": keys '" + it->second + "' and '" + key + "' both set " + f->name);
    assign_field(a, *f, value, Source{origin + ": key '" + key + "'", ErrorKind::input}, notices);
  }
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string suggest_name(const std::string& name, const std::vector<std::string>& extra) {
  std::string n = normalize_name(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::string> candidates = extra;
  for (const auto& f : field_specs()) {
    candidates.push_back(f.name);
    candidates.insert(candidates.end(), f.aliases.begin(), f.aliases.end());
  }
  // Close enough: a quarter of the name's length, at least 1 and at most 3 edits.
  size_t limit = std::clamp<size_t>(n.size() / 4, 1, 3);
  std::string best;
  size_t best_d = limit + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(n, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace detail
}  // namespace imp::train
