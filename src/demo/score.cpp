// Exact-match scoring of the demo evaluation (see score.h).
#include "imp/demo/score.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"

namespace imp::demo {
namespace {

std::vector<Json> read_jsonl(const std::string& path) {
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, path, ": no such file");
  std::istringstream in(read_text_file(path));
  std::vector<Json> rows;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j = parse_json(line, path + ":" + std::to_string(n), json_limits::eval_data);
    IMP_CHECK(j.is_object(), path, ":", n, ": expected a JSON object per line");
    rows.push_back(std::move(j));
  }
  return rows;
}

// question_id may be a number or a string (LLaVA uses both); compare as text.
std::string qid(const Json& row, const std::string& where) {
  auto it = row.find("question_id");
  IMP_CHECK(it != row.end(), where, ": no question_id");
  if (it->is_string()) return it->get<std::string>();
  IMP_CHECK(it->is_number_integer(), where, ": question_id must be an integer or a string");
  return std::to_string(it->get<int64_t>());
}

std::string text_field(const Json& row, const std::vector<const char*>& keys, const std::string& where) {
  for (const char* k : keys) {
    auto it = row.find(k);
    if (it != row.end() && it->is_string()) return it->get<std::string>();
  }
  IMP_FAIL(where, ": no string field '", keys.front(), "'");
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
  return buf;
}

}  // namespace

std::string normalize_answer(const std::string& answer) {
  static const std::map<std::string, std::string> numbers = {
      {"zero", "0"}, {"one", "1"}, {"two", "2"},   {"three", "3"}, {"four", "4"}, {"five", "5"},
      {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"}};
  std::string cleaned;
  for (unsigned char ch : answer) cleaned += std::isalnum(ch) ? static_cast<char>(std::tolower(ch)) : ' ';
  std::istringstream words(cleaned);
  std::string w, out;
  while (words >> w) {
    if (w == "a" || w == "an" || w == "the") continue;
    auto it = numbers.find(w);
    out += (out.empty() ? "" : " ") + (it != numbers.end() ? it->second : w);
  }
  return out;
}

ScoreReport score_answers(const std::string& answers_path, const std::string& gt_path,
                          const std::string& categories_path) {
  struct Truth {
    std::string answer, category;
  };
  std::map<std::string, Truth> truth;
  for (const auto& row : read_jsonl(gt_path)) {
    const std::string id = qid(row, gt_path);
    const std::string cat = row.contains("category") ? text_field(row, {"category"}, gt_path) : "all";
    IMP_CHECK(truth.emplace(id, Truth{normalize_answer(text_field(row, {"answer"}, gt_path)), cat}).second, gt_path,
              ": question_id ", id, " appears twice");
  }
  IMP_CHECK(!truth.empty(), gt_path, ": no ground-truth answers");
  std::map<std::string, std::string> predicted;
  ScoreReport report;
  for (const auto& row : read_jsonl(answers_path)) {
    const std::string id = qid(row, answers_path);
    IMP_CHECK(predicted.emplace(id, normalize_answer(text_field(row, {"text", "answer"}, answers_path))).second,
              answers_path, ": question_id ", id, " is answered twice (merged the chunks of one run twice?)");
    if (!truth.count(id)) ++report.extra;
  }

  std::vector<std::string> order;
  std::map<std::string, double> chance;
  if (!categories_path.empty()) {
    const Json meta = read_json_file(categories_path, json_limits::eval_data);
    IMP_CHECK(meta.is_array(), categories_path, ": expected a JSON list of categories");
    for (const auto& c : meta) {
      const std::string name = text_field(c, {"category"}, categories_path);
      order.push_back(name);
      chance[name] = json_or<double>(c, "chance", -1.0, categories_path);
    }
  }
  std::map<std::string, CategoryScore> by_cat;
  std::map<std::string, std::map<std::string, int64_t>> answer_counts;
  for (const auto& [id, t] : truth) {
    auto& s = by_cat[t.category];
    ++s.questions;
    ++answer_counts[t.category][t.answer];
    auto it = predicted.find(id);
    if (it == predicted.end()) ++s.missing;
    else if (it->second == t.answer) ++s.correct;
  }
  for (const auto& [name, s] : by_cat)
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  double chance_sum = 0.0;
  bool chance_known = true;
  for (const auto& name : order) {
    if (!by_cat.count(name)) continue;
    CategoryScore s = by_cat.at(name);
    s.name = name;
    s.chance = chance.count(name) ? chance.at(name) : -1.0;
    int64_t top = 0;
    for (const auto& [a, n] : answer_counts[name]) top = std::max(top, n);
    s.majority = static_cast<double>(top) / static_cast<double>(s.questions);
    report.overall.questions += s.questions;
    report.overall.correct += s.correct;
    report.overall.missing += s.missing;
    report.overall.majority += static_cast<double>(top);
    if (s.chance < 0) chance_known = false;
    chance_sum += s.chance * static_cast<double>(s.questions);
    report.categories.push_back(s);
  }
  report.overall.name = "overall";
  report.overall.majority /= static_cast<double>(report.overall.questions);
  report.overall.chance = chance_known ? chance_sum / static_cast<double>(report.overall.questions) : -1.0;
  return report;
}

nlohmann::json to_json(const ScoreReport& r) {
  auto one = [](const CategoryScore& s) {
    Json j{{"questions", s.questions}, {"correct", s.correct}, {"missing", s.missing},
           {"accuracy", s.accuracy()}, {"majority", s.majority}};
    j["chance"] = s.chance >= 0 ? Json(s.chance) : Json(nullptr);
    return j;
  };
  Json cats = Json::object();
  for (const auto& s : r.categories) cats[s.name] = one(s);
  return Json{{"categories", cats}, {"overall", one(r.overall)}, {"extra_answers", r.extra}};
}

std::string format_table(const std::vector<ScoreReport>& reports, const std::vector<std::string>& labels) {
  IMP_CHECK(!reports.empty() && reports.size() == labels.size(), "format_table: one label per report");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"category", "questions", "chance", "majority"};
  head.insert(head.end(), labels.begin(), labels.end());
  rows.push_back(head);
  const auto& first = reports.front();
  auto row_for = [&](size_t k) {
    const CategoryScore& s = k < first.categories.size() ? first.categories[k] : first.overall;
    std::vector<std::string> row = {s.name, std::to_string(s.questions), s.chance >= 0 ? percent(s.chance) : "-",
                                    percent(s.majority)};
    for (const auto& r : reports) {
      const CategoryScore& t = k < r.categories.size() ? r.categories[k] : r.overall;
      IMP_CHECK(t.name == s.name && t.questions == s.questions,
                "format_table: the reports were scored against different ground truths");
      row.push_back(percent(t.accuracy()));
    }
    return row;
  };
  for (size_t k = 0; k <= first.categories.size(); ++k) rows.push_back(row_for(k));
  std::vector<size_t> width(head.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::ostringstream out;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t c = 0; c < rows[i].size(); ++c) {
      const std::string& cell = rows[i][c];
      const std::string pad(width[c] - cell.size(), ' ');
      out << (c ? "  " : "") << (c == 0 ? cell + pad : pad + cell);
    }
    out << "\n";
    if (i == 0 || i + 1 == rows.size() - 1) {
      size_t total = 0;
      for (size_t c = 0; c < width.size(); ++c) total += width[c] + (c ? 2 : 0);
      out << std::string(total, '-') << "\n";
    }
  }
  return out.str();
}

}  // namespace imp::demo
