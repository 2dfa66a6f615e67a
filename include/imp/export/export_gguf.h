// `imp export gguf`: the decoder of a full-precision model directory as one GGUF file for llama.cpp
// (docs/deploy.md "GGUF export").
#pragma once

#include <string>

namespace imp::gguf {

struct ExportOptions {
  std::string model;         // HF-layout Imp or decoder directory (phi / qwen2 / phi3 and imp_*)
  std::string output;        // model.gguf (written to a temporary name, renamed at the end)
  std::string type = "f16";  // f32 | f16 | q8_0 | q4_0 | q4_k: 2-d weights; 1-d tensors (norms, biases) stay f32
  std::string mmproj;        // optional: the vision tower + projector as llama.cpp's mmproj file (imp/export/mmproj.h)
};

struct ExportReport {
  std::string arch;
  size_t tensors = 0, skipped = 0;  // skipped: vision tower / projector tensors (not in the text model)
  uint64_t bytes = 0;               // tensor data written
  size_t mmproj_tensors = 0;        // in the --mmproj file
  uint64_t mmproj_bytes = 0;
  int64_t mmproj_layers = 0;        // vision tower layers written
};

ExportReport export_gguf(const ExportOptions& o);

}  // namespace imp::gguf
