// What inference needs from a model directory: the model (optionally a LoRA adapter merged into a
// base, as imp eval's --model-path/--model-base do), its tokenizer, the EOS ids of its generation
// config, and image -> pixel tensors with the model's image size and aspect-ratio mode.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "imp/eval/stopping.h"
#include "imp/models/imp_model.h"
#include "imp/text/tokenizer.h"

namespace imp::eval {

struct SessionOptions {
  std::string model_path;  // an Imp model directory, or a LoRA adapter when model_base is set
  std::string model_base;  // base model directory of a LoRA adapter (empty: none)
  std::string device = "auto";   // auto = cuda when available, else cpu
  std::string dtype = "auto";    // auto = float16 on CUDA (as Python eval), float32 on the CPU
  std::string attn_implementation = "eager";
};

struct Session {
  std::unique_ptr<ImpModel> model;
  std::shared_ptr<text::Tokenizer> tokenizer;
  GenerationIds ids;
  Arch arch = Arch::phi2;
  std::string model_dir;  // where config/tokenizer came from (the base for an adapter)

  static Session open(const SessionOptions& o);
  // Decoded image file / bytes -> [1,3,S,S] float32 pixels. `aspect` false ignores image_aspect_ratio
  // (model_vqa_science calls the processor directly: always squash).
  torch::Tensor pixels_from_file(const std::string& path, bool aspect = true) const;
  torch::Tensor pixels_from_bytes(const std::string& bytes, const std::string& origin, bool aspect = true) const;
};

// The conversation template of a decoder when --conv-mode is not given (phi2, qwen2, phi3).
std::string default_conv_mode(Arch arch);

}  // namespace imp::eval
