// Random scenes of the demo dataset (see scene.h).
#include "imp/demo/scene.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "imp/core/error.h"

namespace imp::demo {

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> names = {"circle", "square", "triangle", "star"};
  return names;
}

const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> names = {"red", "green", "blue", "yellow", "purple", "orange"};
  return names;
}

std::string with_article(const std::string& word) {
  const bool vowel = !word.empty() && std::string("aeiou").find(word[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + word;
}

Rgb colour_rgb(int colour) {
  static const Rgb table[] = {{215, 40, 40}, {40, 160, 60}, {40, 80, 215},
                              {235, 205, 30}, {140, 60, 180}, {240, 130, 30}};
  IMP_CHECK(colour >= 0 && colour < 6, "colour index ", colour, " out of range");
  return table[colour];
}

int Scene::count_colour(int colour) const {
  return static_cast<int>(std::count_if(shapes.begin(), shapes.end(), [&](const Shape& s) { return s.colour == colour; }));
}

int Scene::count_kind(int kind) const {
  return static_cast<int>(std::count_if(shapes.begin(), shapes.end(), [&](const Shape& s) { return s.kind == kind; }));
}

std::string Scene::caption() const {
  std::string out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (i > 0) out += (i + 1 == shapes.size()) ? " and " : ", ";
    out += with_article(colour_names()[shapes[i].colour]) + " " + shape_names()[shapes[i].kind];
  }
  return out;
}

std::string Scene::key() const {
  std::ostringstream s;
  s << background << "/" << noise_sigma << "/" << noise_seed;
  for (const auto& sh : shapes)
    s << "|" << sh.kind << "," << sh.colour << "," << sh.cx << "," << sh.cy << "," << sh.radius << "," << sh.rgb.r
      << "," << sh.rgb.g << "," << sh.rgb.b;
  return s.str();
}

namespace {

Shape random_shape(Rng& rng, double x0, double y0, double extent, double r_lo, double r_hi) {
  Shape s;
  s.kind = static_cast<int>(rng.uniform_int(0, static_cast<int64_t>(shape_names().size()) - 1));
  s.colour = static_cast<int>(rng.uniform_int(0, static_cast<int64_t>(colour_names().size()) - 1));
  s.radius = rng.uniform(r_lo, r_hi);
  // Stars and triangles reach 1.2 radii from the centre; keep a 1-unit margin.
  const double margin = 1.2 * s.radius + 1.0;
  s.cx = rng.uniform(x0 + margin, x0 + extent - margin);
  s.cy = rng.uniform(y0 + margin, y0 + extent - margin);
  const Rgb base = colour_rgb(s.colour);
  auto jitter = [&](int v) { return std::clamp(v + static_cast<int>(rng.uniform_int(-15, 15)), 0, 255); };
  s.rgb = {jitter(base.r), jitter(base.g), jitter(base.b)};
  return s;
}

}  // namespace

Scene random_scene(Rng& rng, int n_shapes) {
  IMP_CHECK(n_shapes >= 1 && n_shapes <= 3, "a demo scene has 1 to 3 shapes, got ", n_shapes);
  Scene scene;
  scene.background = static_cast<int>(rng.uniform_int(200, 250));
  scene.noise_sigma = rng.bernoulli(0.5) ? rng.uniform(3.0, 8.0) : 0.0;
  scene.noise_seed = rng.next();
  if (n_shapes == 1) {
    scene.shapes.push_back(random_shape(rng, 0, 0, 64, 9, 18));
    return scene;
  }
  std::vector<int> cells = {0, 1, 2, 3};
  rng.shuffle(cells);
  cells.resize(static_cast<size_t>(n_shapes));
  std::sort(cells.begin(), cells.end());  // reading order: top-left, top-right, bottom-left, bottom-right
  for (int c : cells) scene.shapes.push_back(random_shape(rng, 32.0 * (c % 2), 32.0 * (c / 2), 32, 6, 10));
  return scene;
}

}  // namespace imp::demo
