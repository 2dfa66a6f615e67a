// The demo's designed SigLIP tower (see tower_design.h).
#include "imp/demo/tower_design.h"

#include <cmath>

#include "imp/core/error.h"

namespace imp::demo {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kOrientations = DemoTowerLayout::orientations;
// Gains, chosen on the demo task (docs/demo.md "The designed vision tower"): energy = kEnergyOut x the sum over
// colour channels, phases and signs of gelu(kEnergyIn x grating) (gelu(x) + gelu(-x) ~ |x|), saturation likewise
// from the colour differences; layer 1 adds kPool x the image mean of the energies, kPool x kPoolSaturation x that
// of the saturation and kPool x kPoolColour x that of the colour differences to every token.
constexpr double kEnergyIn = 2, kEnergyOut = 4, kSaturationIn = 4, kPool = 16, kPoolSaturation = 4, kPoolColour = 1;

torch::Tensor& at(StateDict& w, const std::string& name) {
  auto it = w.find("vision_model." + name);
  IMP_CHECK(it != w.end(), "design_demo_tower: no tensor vision_model.", name);
  return it->second;
}

}  // namespace

void design_demo_tower(StateDict& w, const VisionConfig& c) {
  const int64_t P = c.patch_size, C = c.num_channels, H = c.hidden_size;
  using L = DemoTowerLayout;
  const int64_t grating0 = L::gratings, energy = L::energy, saturation = L::saturation, pooled = L::pooled;
  const int64_t pooled_colour = L::pooled_colour, end = L::end, mlp_units = L::mlp_units;
  IMP_CHECK_KIND(C == 3 && c.num_hidden_layers >= 2 && H >= end && c.intermediate_size >= mlp_units,
                 ErrorKind::usage, "--tower-init designed needs 3 channels, 2+ layers, hidden_size >= ", end,
                 " and intermediate_size >= ", mlp_units, " (this tower: ", C, ", ", c.num_hidden_layers, ", ", H,
                 ", ", c.intermediate_size, ")");
  torch::NoGradGuard no_grad;

  // Stem: colour means, then per channel sin/cos gratings (zero mean, unit norm); the designed channels after
  // them start at 0, the rest keep their random filters.
  auto stem = at(w, "embeddings.patch_embedding.weight");  // [H, C, P, P]
  stem.slice(0, 0, end).zero_();
  at(w, "embeddings.patch_embedding.bias").zero_();
  at(w, "embeddings.position_embedding.weight").slice(1, 0, end).zero_();  // [patches, H]: exact values there
  const auto coord = torch::arange(P, torch::kFloat32) - (P - 1) / 2.0;
  const auto yy = coord.view({P, 1}).expand({P, P}), xx = coord.view({1, P}).expand({P, P});
  for (int64_t ch = 0; ch < C; ++ch) {
    stem[ch][ch].fill_(1.0 / static_cast<double>(P));  // unit norm: the mean x P
    for (int64_t o = 0; o < kOrientations; ++o) {
      const double th = kPi * static_cast<double>(o) / kOrientations;
      const auto phase = (xx * std::cos(th) + yy * std::sin(th)) * (2 * kPi / static_cast<double>(P));
      for (int64_t ph = 0; ph < 2; ++ph) {
        auto g = ph == 0 ? phase.sin() : phase.cos();
        g = g - g.mean();
        stem[grating0 + (ch * kOrientations + o) * 2 + ph][ch].copy_(g / g.norm());
      }
    }
  }

  // Layer 0: no attention output; the MLP computes energies and saturation. Its input is LayerNorm'd, which
  // subtracts the token's mean from every channel: reading channel `energy` (0 before this MLP) with the
  // opposite weight removes that offset.
  const std::string l0 = "encoder.layers.0.", l1 = "encoder.layers.1.";
  at(w, l0 + "self_attn.out_proj.weight").zero_();
  at(w, l0 + "self_attn.out_proj.bias").zero_();
  auto fc1 = at(w, l0 + "mlp.fc1.weight"), fc2 = at(w, l0 + "mlp.fc2.weight");
  fc1.zero_();
  fc2.zero_();
  at(w, l0 + "mlp.fc1.bias").zero_();
  at(w, l0 + "mlp.fc2.bias").zero_();
  int64_t unit = 0;
  for (int64_t ch = 0; ch < C; ++ch)
    for (int64_t o = 0; o < kOrientations; ++o)
      for (int64_t ph = 0; ph < 2; ++ph)
        for (const double sign : {1.0, -1.0}) {
          fc1[unit][grating0 + (ch * kOrientations + o) * 2 + ph] = sign * kEnergyIn;
          fc1[unit][energy] = -sign * kEnergyIn;
          fc2[energy + o][unit++] = kEnergyOut;
        }
  for (const auto& [p, q] : {std::pair<int64_t, int64_t>{0, 1}, {1, 2}, {0, 2}})  // |R-G| + |G-B| + |R-B|
    for (const double sign : {1.0, -1.0}) {
      fc1[unit][p] = sign * kSaturationIn;
      fc1[unit][q] = -sign * kSaturationIn;
      fc2[saturation][unit++] = 1.0 / (kSaturationIn * 8);
    }

  // Layer 1: q = k = 0 makes the attention uniform, so its output is the image mean of v; v reads the energies
  // and the saturation (minus channel `pooled`, 0 before this layer: LayerNorm's offset again) and the colour
  // differences R-G, G-B, B-R (0 for grey: the mean is the shapes' colour, whatever the background), and
  // out_proj writes them to the pooled channels. No MLP.
  for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    at(w, l1 + "self_attn." + n + ".weight").zero_();
    at(w, l1 + "self_attn." + n + ".bias").zero_();
  }
  at(w, l1 + "mlp.fc2.weight").zero_();
  at(w, l1 + "mlp.fc2.bias").zero_();
  auto v = at(w, l1 + "self_attn.v_proj.weight"), out = at(w, l1 + "self_attn.out_proj.weight");
  for (int64_t j = 0; j <= kOrientations; ++j) {  // energies, then saturation (adjacent)
    v[j][energy + j] = 1.0;
    v[j][pooled] = -1.0;
    out[pooled + j][j] = j < kOrientations ? kPool : kPool * kPoolSaturation;
  }
  for (int64_t ch = 0; ch < C; ++ch) {
    const int64_t j = kOrientations + 1 + ch;
    v[j][ch] = 1.0;
    v[j][(ch + 1) % C] = -1.0;
    out[pooled_colour + ch][j] = kPool * kPoolColour;
  }
}

}  // namespace imp::demo
