// Per-architecture GGUF mapping (one file each: phi2_map.cpp, qwen2_map.cpp, phi3_map.cpp): the HF
// checkpoint name of each decoder tensor -> llama.cpp's name, and the "<arch>.*" hyper-parameters, as
// llama.cpp's convert_hf_to_gguf.py writes them for PhiForCausalLM, Qwen2ForCausalLM and Phi3ForCausalLM.
#pragma once

#include <map>
#include <string>

#include "imp/export/gguf_writer.h"
#include "imp/models/config.h"

namespace imp::gguf {

struct ArchMap {
  const char* arch;                              // general.architecture
  std::map<std::string, std::string> globals;    // whole-model tensors: "model.norm" -> "output_norm"
  std::map<std::string, std::string> per_layer;  // "self_attn.q_proj" -> "attn_q" (in model.layers.N.)
  void (*hparams)(Writer& w, const TextConfig& c);
};

const ArchMap& phi2_map();
const ArchMap& qwen2_map();
const ArchMap& phi3_map();
const ArchMap& arch_map(Arch a);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for a tensor llama.cpp's text model
// does not hold (the vision tower, the projector).
std::string gguf_tensor_name(const ArchMap& m, const std::string& hf_name);

// The keys every architecture shares ("<arch>.context_length", embedding/feed-forward lengths, block and head counts).
void common_hparams(Writer& w, const char* arch, const TextConfig& c);

}  // namespace imp::gguf
