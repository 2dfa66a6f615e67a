// `imp export gguf`: the decoder of a full-precision model directory as one GGUF file for llama.cpp
// (docs/deploy.md "GGUF export").
#pragma once

#include <string>

namespace imp::gguf {

struct ExportOptions {
  std::string model;         // HF-layout Imp or decoder directory (phi / qwen2 / phi3 and imp_*)
  std::string output;        // model.gguf (written to a temporary name, renamed at the end)
  std::string type = "f16";  // f32 | f16 | q8_0 | q4_0: 2-d weights; 1-d tensors (norms, biases) stay f32
};

struct ExportReport {
  std::string arch;
  size_t tensors = 0, skipped = 0;  // skipped: vision tower / projector tensors (not in the text model)
  uint64_t bytes = 0;               // tensor data written
};

ExportReport export_gguf(const ExportOptions& o);

}  // namespace imp::gguf
