// `imp export gguf --mmproj`: the SigLIP tower (the layers Imp keeps, no post_layernorm) and the mlp2x_gelu
// projector of an Imp model as a llama.cpp multimodal projector file ("clip" architecture, projector_type
// "mlp", the LLaVA-1.5 graph of tools/mtmd); docs/deploy.md "mmproj".
#pragma once

#include <string>

#include "imp/export/gguf_writer.h"

namespace imp::gguf {

struct MmprojReport {
  size_t tensors = 0;
  uint64_t bytes = 0;
  int64_t layers = 0;  // tower layers written (= clip.vision.block_count = clip.vision.feature_layer)
};

// Fills `w` from the Imp model directory `model` (a multimodal config; the tower may live in the SigLIP
// directory mm_vision_tower names). `type`: the type of 2-d weights with whole 32-value rows (others f16);
// norms and biases f32; the patch and position embeddings f16 (f32 unless type is f16, as llama.cpp's
// converter). Throws a usage error for what llama.cpp's "mlp" projector cannot represent.
MmprojReport build_mmproj(Writer& w, const std::string& model, TensorType type, FileType file_type);

}  // namespace imp::gguf
