// Question generation for the demo dataset (see questions.h).
#include "imp/demo/questions.h"

#include "imp/core/error.h"

namespace imp::demo {
namespace {

const std::string& colour(int i) { return colour_names()[static_cast<size_t>(i)]; }
const std::string& kind(int i) { return shape_names()[static_cast<size_t>(i)]; }

QA ask_colour(Rng& rng, const Scene& s) {
  const std::vector<std::string> q = {"What colour is the shape?", "What color is the shape?",
                                      "What colour is the " + kind(s.shapes[0].kind) + "?"};
  return {"colour", rng.pick(q), colour(s.shapes[0].colour)};
}

QA ask_shape(Rng& rng, const Scene& s) {
  const std::vector<std::string> q = {"What shape is it?", "What is the shape in the image?", "Which shape is shown?"};
  return {"shape", rng.pick(q), kind(s.shapes[0].kind)};
}

QA ask_count(Rng& rng, const Scene& s) {
  const std::vector<std::string> q = {"How many shapes are there?", "How many shapes are in the image?"};
  return {"count", rng.pick(q), std::to_string(s.shapes.size())};
}

// Balanced yes/no about a colour or a kind being present.
QA ask_yesno(Rng& rng, const Scene& s) {
  const bool yes = rng.bernoulli(0.5);
  const bool by_colour = rng.bernoulli(0.5);
  const int n_values = static_cast<int>(by_colour ? colour_names().size() : shape_names().size());
  std::vector<int> candidates;
  for (int v = 0; v < n_values; ++v) {
    const int present = by_colour ? s.count_colour(v) : s.count_kind(v);
    if ((present > 0) == yes) candidates.push_back(v);
  }
  const int v = rng.pick(candidates);  // never empty: 3 shapes cannot cover 4 kinds or 6 colours
  std::string q;
  if (by_colour) {
    q = "Is there " + with_article(colour(v)) + (rng.bernoulli(0.5) ? " shape?" : " shape in the image?");
  } else {
    q = "Is there " + with_article(kind(v)) + (rng.bernoulli(0.5) ? "?" : " in the image?");
  }
  return {"yesno", q, yes ? "yes" : "no"};
}

// "What colour is the <kind>?" about a shape whose kind is unique in the scene (training only).
std::optional<QA> ask_attribute(Rng& rng, const Scene& s) {
  std::vector<const Shape*> unique;
  for (const auto& sh : s.shapes)
    if (s.count_kind(sh.kind) == 1) unique.push_back(&sh);
  if (unique.empty()) return std::nullopt;
  const Shape& sh = *rng.pick(unique);
  return QA{"attribute", "What colour is the " + kind(sh.kind) + "?", colour(sh.colour)};
}

QA ask(Rng& rng, const std::string& category, const Scene& s) {
  if (category == "colour") return ask_colour(rng, s);
  if (category == "shape") return ask_shape(rng, s);
  if (category == "count") return ask_count(rng, s);
  if (category == "yesno") return ask_yesno(rng, s);
  if (category == "attribute") {
    if (auto qa = ask_attribute(rng, s)) return *qa;
    return ask_yesno(rng, s);
  }
  IMP_FAIL("unknown demo question category '", category, "'");
}

// Categories that make sense for a scene: colour/shape questions need a single shape.
std::vector<std::string> categories_for(const Scene& s) {
  if (s.shapes.size() == 1) return {"colour", "shape", "yesno", "count"};
  return {"yesno", "count", "attribute"};
}

Scene training_scene(Rng& rng) {
  return random_scene(rng, static_cast<int>(rng.weighted({0.5, 0.25, 0.25})) + 1);
}

const std::vector<std::pair<std::string, std::string>>& text_questions() {
  static const std::vector<std::pair<std::string, std::string>> qa = {
      {"How many sides does a triangle have?", "3"},
      {"How many sides does a square have?", "4"},
      {"How many points does a star have?", "5"},
      {"Which shape has no corners?", "circle"},
      {"What colour do you get by mixing blue and yellow?", "green"},
      {"What colour do you get by mixing red and yellow?", "orange"},
      {"What colour do you get by mixing red and blue?", "purple"},
      {"What colour is the sky on a clear day?", "blue"},
      {"What colour is a ripe banana?", "yellow"},
      {"What colour is a ripe tomato?", "red"},
  };
  return qa;
}

}  // namespace

const std::vector<Category>& eval_categories() {
  static const std::vector<Category> cats = {
      {"colour", "colour of the single shape", colour_names()},
      {"shape", "kind of the single shape", shape_names()},
      {"yesno", "is a given colour or kind present (1-3 shapes, half yes)", {"yes", "no"}},
      {"count", "number of shapes (1-3, uniform)", {"1", "2", "3"}},
  };
  return cats;
}

const Category& eval_category(const std::string& name) {
  for (const auto& c : eval_categories())
    if (c.name == name) return c;
  IMP_FAIL("unknown demo evaluation category '", name, "'; expected colour, shape, yesno or count");
}

std::pair<Scene, QA> make_eval_item(Rng& rng, const std::string& category) {
  eval_category(category);  // validates the name
  const bool single = category == "colour" || category == "shape";
  Scene scene = random_scene(rng, single ? 1 : static_cast<int>(rng.uniform_int(1, 3)));
  QA qa = ask(rng, category, scene);
  return {std::move(scene), std::move(qa)};
}

Conversation make_train_conversation(Rng& rng) {
  Conversation c;
  switch (rng.weighted({0.25, 0.60, 0.08, 0.07})) {
    case 0: {
      c.kind = "single";
      c.scene = training_scene(rng);
      c.turns.push_back(ask(rng, rng.pick(categories_for(*c.scene)), *c.scene));
      break;
    }
    case 1: {
      c.kind = "multi";
      c.scene = training_scene(rng);
      auto cats = categories_for(*c.scene);
      rng.shuffle(cats);
      const size_t turns = static_cast<size_t>(rng.uniform_int(2, 4));
      if (cats.size() < turns) cats.push_back("yesno");  // multi-shape scenes: a second yes/no question
      for (size_t i = 0; i < turns; ++i) c.turns.push_back(ask(rng, cats[i], *c.scene));
      break;
    }
    case 2: {
      c.kind = "describe";
      c.scene = training_scene(rng);
      const std::vector<std::string> q = {"Describe the image briefly.", "What is in the image?",
                                          "Give a short description of the picture."};
      c.turns.push_back({"describe", rng.pick(q), c.scene->caption()});
      break;
    }
    default: {
      c.kind = "text";
      const auto& [q, a] = rng.pick(text_questions());
      c.turns.push_back({"text", q, a});
      break;
    }
  }
  return c;
}

}  // namespace imp::demo
