// The demo's torch-free parts: the RNG (cross-platform determinism), scenes, questions with known answers,
// and the scorer.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "imp/core/error.h"
#include "imp/demo/questions.h"
#include "imp/demo/rng.h"
#include "imp/demo/scene.h"
#include "imp/demo/score.h"

namespace imp::demo {
namespace {

namespace fs = std::filesystem;

TEST(DemoRng, SameSeedSameSequence) {
  Rng a(7), b(7), c(8);
  std::vector<int64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.uniform_int(0, 1000));
    vb.push_back(b.uniform_int(0, 1000));
    vc.push_back(c.uniform_int(0, 1000));
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
}

// Pinned values: the distributions are our own code on top of std::mt19937_64 (whose sequence the C++
// standard fixes), so these must come out the same with every compiler and standard library.
TEST(DemoRng, DistributionsOnTheStandardEngine) {
  Rng r(42);
  std::vector<int64_t> ints;
  for (int i = 0; i < 8; ++i) ints.push_back(r.uniform_int(0, 9));
  Rng r2(42);
  const uint64_t first = r2.next();
  std::mt19937_64 ref(42);
  EXPECT_EQ(first, ref());  // the engine is the standard one
  // uniform_int(0, 9) is x % 10 of the first accepted 64-bit outputs.
  std::mt19937_64 ref2(42);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ints[i], static_cast<int64_t>(ref2() % 10)) << "draw " << i;
  Rng r3(42);
  EXPECT_DOUBLE_EQ(r3.uniform01(), static_cast<double>(first >> 11) * 0x1.0p-53);
  EXPECT_EQ(mix_seed(0, 1, 0), mix_seed(0, 1, 0));
  EXPECT_NE(mix_seed(0, 1, 0), mix_seed(0, 2, 0));
  EXPECT_NE(mix_seed(0, 1, 0), mix_seed(0, 1, 1));
  EXPECT_NE(mix_seed(0, 1, 0), mix_seed(1, 1, 0));
}

TEST(DemoRng, Distributions) {
  Rng r(1);
  std::map<int64_t, int> counts;
  double sum = 0, sq = 0, usum = 0;
  const int n = 60000;
  for (int i = 0; i < n; ++i) {
    const int64_t v = r.uniform_int(-2, 3);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 3);
    ++counts[v];
    const double u = r.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    usum += u;
    const double z = r.normal();
    sum += z;
    sq += z * z;
  }
  EXPECT_EQ(counts.size(), 6u);
  for (const auto& [v, c] : counts) EXPECT_NEAR(c, n / 6.0, n / 6.0 * 0.05) << "value " << v;
  EXPECT_NEAR(usum / n, 0.5, 0.01);
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(std::sqrt(sq / n), 1.0, 0.02);
  EXPECT_EQ(r.uniform_int(5, 5), 5);
  EXPECT_THROW(r.uniform_int(3, 2), Error);
  std::vector<int> w(3, 0);
  for (int i = 0; i < 10000; ++i) ++w[r.weighted({1.0, 0.0, 3.0})];
  EXPECT_EQ(w[1], 0);
  EXPECT_NEAR(w[2] / 10000.0, 0.75, 0.03);
}

TEST(DemoScene, ShapesStayInsideAndApart) {
  for (int n = 1; n <= 3; ++n) {
    for (uint64_t s = 0; s < 300; ++s) {
      Rng rng(mix_seed(s, 9, n));
      const Scene scene = random_scene(rng, n);
      ASSERT_EQ(scene.shapes.size(), static_cast<size_t>(n));
      for (const auto& sh : scene.shapes) {
        const double reach = 1.2 * sh.radius;
        EXPECT_GE(sh.cx - reach, 0.0);
        EXPECT_LE(sh.cx + reach, 64.0);
        EXPECT_GE(sh.cy - reach, 0.0);
        EXPECT_LE(sh.cy + reach, 64.0);
      }
      for (size_t i = 0; i < scene.shapes.size(); ++i)
        for (size_t j = i + 1; j < scene.shapes.size(); ++j) {
          const auto &a = scene.shapes[i], &b = scene.shapes[j];
          EXPECT_GT(std::hypot(a.cx - b.cx, a.cy - b.cy), 1.2 * (a.radius + b.radius)) << "shapes overlap";
        }
    }
  }
  Rng rng(0);
  EXPECT_THROW(random_scene(rng, 4), Error);
}

TEST(DemoScene, CaptionAndCounts) {
  Scene s;
  auto shape = [](int kind, int colour) {
    Shape sh;
    sh.kind = kind;
    sh.colour = colour;
    return sh;
  };
  s.shapes = {shape(0, 5), shape(3, 2), shape(0, 0)};
  EXPECT_EQ(s.caption(), "an orange circle, a blue star and a red circle");
  EXPECT_EQ(s.count_kind(0), 2);
  EXPECT_EQ(s.count_colour(2), 1);
  EXPECT_EQ(s.count_colour(4), 0);
  s.shapes.resize(2);
  EXPECT_EQ(s.caption(), "an orange circle and a blue star");
  Scene t = s;
  EXPECT_EQ(s.key(), t.key());
  t.shapes[0].cx += 0.5;
  EXPECT_NE(s.key(), t.key());
}

int index_of(const std::vector<std::string>& v, const std::string& x) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] == x) return static_cast<int>(i);
  return -1;
}

// Recomputes the answer of a yes/no question from its text and the scene.
std::string yesno_truth(const QA& qa, const Scene& s) {
  for (size_t c = 0; c < colour_names().size(); ++c)
    if (qa.question.find(" " + colour_names()[c] + " ") != std::string::npos)
      return s.count_colour(static_cast<int>(c)) > 0 ? "yes" : "no";
  for (size_t k = 0; k < shape_names().size(); ++k)
    if (qa.question.find(" " + shape_names()[k]) != std::string::npos)
      return s.count_kind(static_cast<int>(k)) > 0 ? "yes" : "no";
  return "?";
}

TEST(DemoQuestions, EvalAnswersMatchTheScene) {
  std::map<std::string, std::map<std::string, int>> answers;
  for (const auto& cat : eval_categories()) {
    for (uint64_t i = 0; i < 800; ++i) {
      Rng rng(mix_seed(3, 2, i));
      const auto [scene, qa] = make_eval_item(rng, cat.name);
      ASSERT_EQ(qa.category, cat.name);
      ASSERT_GE(index_of(cat.answers, qa.answer), 0) << qa.answer << " is not an answer of " << cat.name;
      ++answers[cat.name][qa.answer];
      if (cat.name == "colour") {
        ASSERT_EQ(scene.shapes.size(), 1u);
        EXPECT_EQ(qa.answer, colour_names()[scene.shapes[0].colour]);
      } else if (cat.name == "shape") {
        ASSERT_EQ(scene.shapes.size(), 1u);
        EXPECT_EQ(qa.answer, shape_names()[scene.shapes[0].kind]);
      } else if (cat.name == "count") {
        EXPECT_EQ(qa.answer, std::to_string(scene.shapes.size()));
      } else {
        EXPECT_EQ(qa.answer, yesno_truth(qa, scene)) << qa.question << " / " << scene.caption();
        EXPECT_EQ(qa.question.find("a orange"), std::string::npos) << qa.question;
      }
    }
  }
  // Every answer occurs, none dominates: chance is the honest baseline.
  for (const auto& cat : eval_categories()) {
    ASSERT_EQ(answers[cat.name].size(), cat.answers.size()) << cat.name;
    for (const auto& [a, n] : answers[cat.name])
      EXPECT_NEAR(n / 800.0, cat.chance(), 0.06) << cat.name << " answer " << a;
  }
  EXPECT_DOUBLE_EQ(eval_category("colour").chance(), 1.0 / 6);
  EXPECT_DOUBLE_EQ(eval_category("yesno").chance(), 0.5);
  EXPECT_THROW(eval_category("size"), Error);
}

TEST(DemoQuestions, TrainingConversations) {
  std::map<std::string, int> kinds;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    Rng rng(mix_seed(5, 1, static_cast<uint64_t>(i)));
    const Conversation c = make_train_conversation(rng);
    ++kinds[c.kind];
    ASSERT_EQ(c.scene.has_value(), c.kind != "text");
    ASSERT_FALSE(c.turns.empty());
    if (c.kind == "multi") {
      EXPECT_GE(c.turns.size(), 2u);
      EXPECT_LE(c.turns.size(), 4u);
    } else {
      EXPECT_EQ(c.turns.size(), 1u);
    }
    for (const auto& t : c.turns) {
      ASSERT_FALSE(t.question.empty());
      ASSERT_FALSE(t.answer.empty());
      if (t.category == "describe") {
        EXPECT_EQ(t.answer, c.scene->caption());
      } else if (t.category == "count") {
        EXPECT_EQ(t.answer, std::to_string(c.scene->shapes.size()));
      } else if (t.category == "yesno") {
        EXPECT_EQ(t.answer, yesno_truth(t, *c.scene));
      }
      if (t.category == "attribute") {  // "What colour is the <kind>?" about the only shape of that kind
        bool found = false;
        for (const auto& sh : c.scene->shapes)
          if (t.question.find(" " + shape_names()[sh.kind] + "?") != std::string::npos) {
            EXPECT_EQ(c.scene->count_kind(sh.kind), 1);
            EXPECT_EQ(t.answer, colour_names()[sh.colour]);
            found = true;
          }
        EXPECT_TRUE(found) << t.question;
      }
    }
  }
  EXPECT_NEAR(kinds["single"] / double(n), 0.25, 0.03);
  EXPECT_NEAR(kinds["multi"] / double(n), 0.60, 0.03);
  EXPECT_NEAR(kinds["describe"] / double(n), 0.08, 0.02);
  EXPECT_NEAR(kinds["text"] / double(n), 0.07, 0.02);
}

TEST(DemoScore, Normalize) {
  EXPECT_EQ(normalize_answer("Red"), "red");
  EXPECT_EQ(normalize_answer("  The red. "), "red");
  EXPECT_EQ(normalize_answer("Yes!"), "yes");
  EXPECT_EQ(normalize_answer("Two"), "2");
  EXPECT_EQ(normalize_answer("3."), "3");
  EXPECT_EQ(normalize_answer("a   blue\nstar"), "blue star");
  EXPECT_EQ(normalize_answer(""), "");
  EXPECT_NE(normalize_answer("red circle"), normalize_answer("red"));
}

class DemoScoreFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("imp_demo_score_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write("gt.jsonl",
          "{\"question_id\":0,\"answer\":\"red\",\"category\":\"colour\"}\n"
          "{\"question_id\":1,\"answer\":\"blue\",\"category\":\"colour\"}\n"
          "{\"question_id\":2,\"answer\":\"red\",\"category\":\"colour\"}\n"
          "{\"question_id\":3,\"answer\":\"yes\",\"category\":\"yesno\"}\n"
          "{\"question_id\":\"q4\",\"answer\":\"2\",\"category\":\"count\"}\n");
    write("categories.json",
          "[{\"category\":\"yesno\",\"chance\":0.5},{\"category\":\"colour\",\"chance\":0.25}]");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string p(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(DemoScoreFiles, PerCategory) {
  write("ans.jsonl",
        "{\"question_id\":0,\"prompt\":\"x\",\"text\":\"Red.\"}\n"
        "{\"question_id\":1,\"text\":\"green\"}\n"
        "{\"question_id\":3,\"text\":\"Yes\"}\n"
        "{\"question_id\":\"q4\",\"text\":\"two\"}\n"
        "{\"question_id\":99,\"text\":\"x\"}\n");
  const ScoreReport r = score_answers(p("ans.jsonl"), p("gt.jsonl"), p("categories.json"));
  ASSERT_EQ(r.categories.size(), 3u);
  EXPECT_EQ(r.categories[0].name, "yesno");  // categories.json order, then the rest by name
  EXPECT_EQ(r.categories[1].name, "colour");
  EXPECT_EQ(r.categories[2].name, "count");
  EXPECT_EQ(r.categories[1].questions, 3);
  EXPECT_EQ(r.categories[1].correct, 1);
  EXPECT_EQ(r.categories[1].missing, 1);
  EXPECT_DOUBLE_EQ(r.categories[1].majority, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.categories[1].chance, 0.25);
  EXPECT_LT(r.categories[2].chance, 0);  // not in categories.json
  EXPECT_EQ(r.categories[2].correct, 1);
  EXPECT_EQ(r.overall.questions, 5);
  EXPECT_EQ(r.overall.correct, 3);
  EXPECT_DOUBLE_EQ(r.overall.accuracy(), 0.6);
  EXPECT_LT(r.overall.chance, 0);
  EXPECT_EQ(r.extra, 1);
  const auto j = to_json(r);
  EXPECT_DOUBLE_EQ(j["overall"]["accuracy"].get<double>(), 0.6);
  EXPECT_TRUE(j["categories"]["count"]["chance"].is_null());
  const std::string table = format_table({r, r}, {"before", "after"});
  EXPECT_NE(table.find("category"), std::string::npos);
  EXPECT_NE(table.find("after"), std::string::npos);
  EXPECT_NE(table.find("overall"), std::string::npos);
  EXPECT_NE(table.find("33.3%"), std::string::npos);  // colour accuracy
  EXPECT_NE(table.find("60.0%"), std::string::npos);  // overall
}

TEST_F(DemoScoreFiles, BadInput) {
  write("dup.jsonl", "{\"question_id\":0,\"text\":\"red\"}\n{\"question_id\":0,\"text\":\"red\"}\n");
  EXPECT_THROW(score_answers(p("dup.jsonl"), p("gt.jsonl")), Error);
  write("bad.jsonl", "{\"question_id\":0,\"text\":\"red\"}\nnot json\n");
  EXPECT_THROW(score_answers(p("bad.jsonl"), p("gt.jsonl")), Error);
  write("noid.jsonl", "{\"text\":\"red\"}\n");
  EXPECT_THROW(score_answers(p("noid.jsonl"), p("gt.jsonl")), Error);
  EXPECT_THROW(score_answers(p("missing.jsonl"), p("gt.jsonl")), Error);
  write("empty.jsonl", "");
  const ScoreReport r = score_answers(p("empty.jsonl"), p("gt.jsonl"));  // nothing answered: all wrong
  EXPECT_EQ(r.overall.correct, 0);
  EXPECT_EQ(r.overall.missing, 5);
}

}  // namespace
}  // namespace imp::demo
