// Scenes of the demo dataset: one to three filled shapes (circle, square, triangle, star) in six
// colours on a plain or lightly noisy grey background, described exactly (so questions have known
// answers) and drawn by render.h. Coordinates are on a 64x64 canvas and scaled when drawn. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imp/demo/rng.h"

namespace imp::demo {

const std::vector<std::string>& shape_names();   // circle, square, triangle, star
const std::vector<std::string>& colour_names();  // red, green, blue, yellow, purple, orange

struct Rgb {
  int r = 0, g = 0, b = 0;
};
Rgb colour_rgb(int colour);  // the base colour before jitter
// "a red", "an orange": the indefinite article for a colour or shape name.
std::string with_article(const std::string& word);

struct Shape {
  int kind = 0;        // index into shape_names()
  int colour = 0;      // index into colour_names()
  double cx = 32, cy = 32, radius = 10;  // canvas units (64 x 64)
  Rgb rgb;             // base colour with a small per-shape jitter
};

struct Scene {
  std::vector<Shape> shapes;  // in reading order (top to bottom, left to right)
  int background = 230;       // grey level
  double noise_sigma = 0.0;   // per-pixel Gaussian noise (0 = plain)
  uint64_t noise_seed = 0;

  int count_colour(int colour) const;
  int count_kind(int kind) const;
  // "a red circle", "an orange circle and a blue star", "a red circle, a blue star and a green square".
  std::string caption() const;
  // A string that identifies the scene (used to keep evaluation images out of the training set).
  std::string key() const;
};

// A random scene with `n_shapes` shapes (1: one large shape anywhere; 2-3: shapes in distinct cells of
// a 2x2 grid, so they never overlap).
Scene random_scene(Rng& rng, int n_shapes);

}  // namespace imp::demo
