// Architecture lookup and HF -> GGUF tensor names; see imp/export/arch_map.h.
#include "imp/export/arch_map.h"

#include "imp/core/error.h"

namespace imp::gguf {

const ArchMap& arch_map(Arch a) {
  switch (a) {
    case Arch::phi2: return phi2_map();
    case Arch::qwen2: return qwen2_map();
    case Arch::phi3: return phi3_map();
  }
  IMP_FAIL("gguf: unknown architecture");
}

std::string gguf_tensor_name(const ArchMap& m, const std::string& hf) {
  const auto dot = hf.rfind('.');
  if (dot == std::string::npos) return "";
  const std::string module = hf.substr(0, dot), leaf = hf.substr(dot);  // leaf: ".weight" / ".bias"
  const std::string layers = "model.layers.";
  if (module.rfind(layers, 0) == 0) {
    const auto end = module.find('.', layers.size());
    if (end == std::string::npos) return "";
    auto it = m.per_layer.find(module.substr(end + 1));
    return it == m.per_layer.end() ? "" : "blk." + module.substr(layers.size(), end - layers.size()) + "." + it->second + leaf;
  }
  auto it = m.globals.find(module);
  return it == m.globals.end() ? "" : it->second + leaf;
}

void common_hparams(Writer& w, const char* arch, const TextConfig& c) {
  const std::string a = arch;
  w.set(a + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.set(a + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set(a + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.set(a + ".block_count", static_cast<uint32_t>(c.num_hidden_layers));
  w.set(a + ".attention.head_count", static_cast<uint32_t>(c.num_attention_heads));
  w.set(a + ".attention.head_count_kv", static_cast<uint32_t>(c.num_key_value_heads));
}

}  // namespace imp::gguf
