// A designed (not random) SigLIP tower for the demo: a stand-in for the pretrained tower Imp starts from.
// A pretrained SigLIP's tokens carry what the image shows (colours, edges, the shape as a whole) in a form a
// projector reads; a random tiny tower's do not, and the demo's random decoder cannot learn shape from them
// in minutes (docs/demo.md). This one computes, with ordinary SigLIP weights (HF transformers loads it):
//   stem       3 colour means and, per colour channel, sine/cosine gratings at 6 orientations (period = the patch)
//   layer 0    attention off; the MLP turns the gratings into orientation energies (phase-free edge strength per
//              orientation) and the colour means into a saturation ("not background grey") value
//   layer 1    attention uniform over the image (q = k = 0): the image's mean energies, saturation and colour
//              differences (R-G, G-B, B-R: 0 for the grey background) are added to every token; MLP off
// Everything else keeps its random initialisation. Imp's mm_vision_select_layer -2 of a 3-layer tower reads
// layer 1's output, so every image token then holds both its own patch and a summary of the whole image.
#pragma once

#include "imp/io/state_dict.h"
#include "imp/models/config.h"

namespace imp::demo {

// Where the designed channels sit in a token (the rest keep random stem filters).
struct DemoTowerLayout {
  static constexpr int64_t orientations = 6;  // 0, 30, ..., 150 degrees; 0 = gratings along x (vertical edges)
  static constexpr int64_t gratings = 3;      // after the 3 colour means: (colour channel, orientation, phase)
  static constexpr int64_t energy = gratings + 3 * orientations * 2;  // layer 0: one per orientation, then
  static constexpr int64_t saturation = energy + orientations;         // the saturation
  static constexpr int64_t pooled = saturation + 1;  // layer 1: image means of the energies and the saturation
  static constexpr int64_t pooled_colour = pooled + orientations + 1;  // and of the colour differences (3)
  static constexpr int64_t end = pooled_colour + 3;
  static constexpr int64_t mlp_units = 3 * orientations * 4 + 6;  // layer 0 MLP units used
};

// Overwrites the stem, layer 0 and layer 1 of a SigLIP state dict (names vision_model.*) made for `config`.
// Needs 3 channels, at least 2 layers, hidden_size >= layout.end and intermediate_size >= layout.mlp_units.
void design_demo_tower(StateDict& weights, const VisionConfig& config);

}  // namespace imp::demo
