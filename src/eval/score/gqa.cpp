// GQA accuracy as the official eval.py with LLaVA's testdev changes (no scene graphs/choices, so
// validity and plausibility are 0 and grounding/consistency are off): exact match over the balanced
// questions, binary/open split, per-type/length/steps accuracies and the chi-square distribution
// score (summed in the questions file's order, as Python dicts do).
#include <map>
#include <unordered_map>

#include "imp/eval/score.h"
#include "imp/eval/score_gqa.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_text.h"

namespace imp::eval {
namespace {

// Insertion-ordered counter, like defaultdict(int) iteration.
struct OrderedCounts {
  std::vector<std::pair<std::string, long>> items;
  std::unordered_map<std::string, size_t> index;
  long& operator[](const std::string& k) {
    auto it = index.find(k);
    if (it != index.end()) return items[it->second].second;
    index[k] = items.size();
    items.emplace_back(k, 0);
    return items.back().second;
  }
  long get(const std::string& k) const {
    auto it = index.find(k);
    return it == index.end() ? 0 : items[it->second].second;
  }
};

struct Bucket {
  double sum = 0;
  size_t n = 0;
  void add(double s) {
    sum += s;
    ++n;
  }
  double avg100() const { return n ? sum / static_cast<double>(n) * 100 : 0.0; }
};

}  // namespace

std::string gqa_prediction(const std::string& text) { return py::lower(py::rstrip_chars(text, ".")); }

size_t gqa_steps(const OrderedJson& question) {
  size_t steps = 0;
  for (const auto& c : question.at("semantic")) {
    const std::string op = c.at("operation").get<std::string>() + ": " + c.at("argument").get<std::string>();
    if (!py::contains(op, "exist") && !py::contains(op, "query: name") && !py::contains(op, "choose name")) ++steps;
  }
  return steps;
}

ScoreReport score_gqa(const ScoreOptions& o) {
  IMP_CHECK_KIND(!o.question_file.empty(), ErrorKind::usage,
                 "gqa needs --question-file testdev_balanced_questions.json (GQA release, questions1.2)");
  const OrderedJson questions = read_json_ordered(o.question_file);
  IMP_CHECK(questions.is_object(), o.question_file, ": expected an object of questionId -> question");
  std::unordered_map<std::string, std::string> predictions;
  const auto answers = read_jsonl(o.answers);
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    predictions[id_key(question_id(answers[i], origin))] = gqa_prediction(string_field(answers[i], "text", origin));
  }
  Bucket accuracy, binary, open;
  std::map<std::string, Bucket> structural, semantic;
  std::map<long, Bucket> length, steps;  // printed sorted, as the official script does
  std::vector<std::string> group_order;
  std::unordered_map<std::string, OrderedCounts> gold_dist, pred_dist;
  for (auto it = questions.begin(); it != questions.end(); ++it) {
    const OrderedJson& q = it.value();
    if (!q.at("isBalanced").get<bool>()) continue;
    auto p = predictions.find("s:" + it.key());
    IMP_CHECK(p != predictions.end(), o.answers, ": no prediction for question ", it.key(),
              " (the official eval needs every balanced question)");
    const std::string gold = q.at("answer").get<std::string>();
    const double score = p->second == gold ? 1.0 : 0.0;
    accuracy.add(score);
    length[static_cast<long>(py::split(q.at("question").get<std::string>()).size())].add(score);
    steps[static_cast<long>(gqa_steps(q))].add(score);
    const std::string type = q.at("types").at("structural").get<std::string>();
    structural[type].add(score);
    semantic[q.at("types").at("semantic").get<std::string>()].add(score);
    (type == "query" ? open : binary).add(score);
    const OrderedJson& global = q.at("groups").at("global");
    if (!global.is_null()) {
      const std::string g = global.get<std::string>();
      if (!gold_dist.count(g)) group_order.push_back(g);
      gold_dist[g][gold] += 1;
      pred_dist[g][p->second] += 1;
    }
  }
  // chiSquare(gold, predicted) / 100
  double sum_score = 0;
  long sum_overall = 0;
  for (const std::string& g : group_order) {
    double score = 0;
    long overall = 0;
    for (const auto& [ans, e] : gold_dist[g].items) {
      const long o_count = pred_dist[g].get(ans);
      const double d = static_cast<double>(o_count - e);
      score += (d * d) / static_cast<double>(e);
      overall += e;
    }
    sum_score += score * static_cast<double>(overall);
    sum_overall += overall;
  }
  ScoreReport r;
  r.metrics = {{"benchmark", "gqa"},
               {"binary", binary.avg100()},
               {"open", open.avg100()},
               {"accuracy", accuracy.avg100()},
               {"validity", 0.0},
               {"plausibility", 0.0},
               {"distribution", sum_overall ? OrderedJson(sum_score / static_cast<double>(sum_overall) / 100)
                                            : OrderedJson(nullptr)},
               {"questions", accuracy.n}};
  r.headline = accuracy.avg100();
  r.table = "GQA  accuracy " + fixed(accuracy.avg100(), 2) + "%  binary " + fixed(binary.avg100(), 2) + "%  open " +
            fixed(open.avg100(), 2) + "%  (" + std::to_string(accuracy.n) + " balanced questions)\n";
  auto detail = [&](const char* name, const auto& buckets) {
    OrderedJson d = OrderedJson::object();
    for (const auto& [k, b] : buckets) {
      std::string key;
      if constexpr (std::is_same_v<std::decay_t<decltype(k)>, long>) key = std::to_string(k); else key = k;
      d[key] = {{"accuracy", b.avg100()}, {"questions", b.n}};
    }
    r.metrics[name] = d;
  };
  detail("accuracyPerStructuralType", structural);
  detail("accuracyPerSemanticType", semantic);
  detail("accuracyPerSteps", steps);
  detail("accuracyPerLength", length);
  if (!sum_overall) r.metrics["notes"] = {"distribution undefined: no balanced question has a global group (Python divides by zero)"};
  return r;
}

}  // namespace imp::eval
