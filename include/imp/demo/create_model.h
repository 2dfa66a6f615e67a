// `imp create-model`: a randomly initialised model of any supported config (decoder only, SigLIP tower
// only, or a whole Imp model) written as an HF-layout directory that ImpModel::from_pretrained (and
// transformers, for the plain decoders) loads: config.json, generation_config.json (decoders),
// preprocessor_config.json (SigLIP), model.safetensors, and the tokenizer files copied from --tokenizer.
// With vision_tower, a decoder + tower + new projector (Imp's starting point); see below.
// Initialisation as HF's _init_weights: matrices and embeddings N(0, initializer_range), biases 0,
// norm weights 1 (and the padding row of the token embedding 0). Same seed -> identical files.
#pragma once

#include <cstdint>
#include <string>

namespace imp::demo {

struct CreateModelOptions {
  std::string config;     // a config.json (e.g. configs/models/demo-phi2.json)
  std::string output;     // directory to write
  std::string tokenizer;  // optional: directory with HF tokenizer files to copy (decoders only)
  // Optional SigLIP directory: turns a decoder config (phi, qwen2, phi3) into an Imp model (imp,
  // imp_qwen2, imp_phi3) whose tower is that directory (mm_vision_tower = its absolute path, no tower
  // weights written) with a fresh mlp2x_gelu projector: what Imp's stage 1 starts from. The decoder
  // weights equal those of the plain decoder made with the same seed.
  std::string vision_tower;
  uint64_t seed = 0;
  std::string dtype = "float32";  // float32 | bfloat16 | float16 (weights are drawn in float32, then cast)
  bool force = false;             // overwrite an existing model directory
  std::string tower_init = "random";  // SigLIP configs: random | designed (demo/tower_design.h)
};

struct CreateModelResult {
  std::string summary;      // ModelConfig::summary()
  int64_t parameters = 0;   // elements written
  int64_t tensors = 0;
  double initializer_range = 0.02;
};

CreateModelResult create_model(const CreateModelOptions& options);

}  // namespace imp::demo
