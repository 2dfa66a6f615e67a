// Model configs parsed from HF config.json, with every default in one place (config.cpp).
// Field names follow the HF keys; comments give the released-model values they default to.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "imp/core/json.h"

namespace imp {

enum class Arch { phi2, qwen2, phi3 };
std::string arch_name(Arch a);

// Rope scaling of Phi-3 ("su"/"longrope" and "yarn"); type empty = none.
struct RopeScaling {
  std::string type;
  std::vector<double> short_factor, long_factor;
};

// Decoder (language model) config for the three supported families.
struct TextConfig {
  Arch arch = Arch::phi2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;                      // hidden_size / num_attention_heads
  int64_t rotary_dim = 0;                    // head_dim * partial_rotary_factor (Phi-2: 32 of 80)
  double partial_rotary_factor = 1.0;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;                    // layer_norm_eps (Phi-2) or rms_norm_eps
  std::string hidden_act;
  int64_t max_position_embeddings = 2048;
  int64_t original_max_position_embeddings = 0;  // Phi-3 rope scaling
  RopeScaling rope_scaling;
  std::optional<int64_t> sliding_window;     // Phi-3: 2047; Qwen2 only when use_sliding_window
  bool tie_word_embeddings = false;
  double resid_pdrop = 0.0, embd_pdrop = 0.0, attention_dropout = 0.0;
  std::optional<int64_t> pad_token_id, bos_token_id;
  std::vector<int64_t> eos_token_ids;

  static TextConfig from_json(const Json& j, Arch arch, const std::string& origin);
};

// SigLIP vision config (google/siglip-so400m-patch14-384 defaults).
struct VisionConfig {
  int64_t hidden_size = 1152;
  int64_t intermediate_size = 4304;
  int64_t num_hidden_layers = 27;
  int64_t num_attention_heads = 16;
  int64_t num_channels = 3;
  int64_t image_size = 384;
  int64_t patch_size = 14;
  double layer_norm_eps = 1e-6;
  std::string hidden_act = "gelu_pytorch_tanh";

  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  static VisionConfig from_json(const Json& j, const std::string& origin);
};

// What a model directory holds, decided from config.json's model_type (never from the path).
enum class ModelKind { multimodal, text, vision };

struct ModelConfig {
  ModelKind kind = ModelKind::multimodal;
  std::string model_type;
  TextConfig text;                      // kind multimodal or text
  VisionConfig vision;                  // kind multimodal or vision
  // Multimodal fields written by Imp's training code (imp-reference 2.1).
  std::string mm_vision_tower;
  std::string mm_projector_type = "mlp2x_gelu";
  int64_t mm_hidden_size = 1152;
  int64_t mm_vision_select_layer = -2;
  std::string mm_vision_select_feature = "patch";
  std::string image_aspect_ratio = "square";
  std::string tokenizer_padding_side = "right";
  std::optional<int64_t> tokenizer_model_max_length;
  Json raw;                             // the file as read, written back on save

  // Vision encoder layers kept: Imp deletes layers after mm_vision_select_layer (-2 keeps 26 of 27).
  int64_t vision_layers_kept() const;
  static ModelConfig from_json(const Json& j, const std::string& origin, const std::string& model_dir = "");
  static ModelConfig load(const std::string& model_dir);
  std::string summary() const;
};

// The SigLIP directory a config's mm_vision_tower names: as written when absolute, else relative to the model
// directory `model_dir`; "" when mm_vision_tower is "". (imp merge also looks relative to the working directory
// first, as Imp's runs write it: train/merge.cpp.)
std::string vision_tower_dir(const std::string& mm_vision_tower, const std::string& model_dir);

}  // namespace imp
