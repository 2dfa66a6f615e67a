// Phi-2 (PhiForCausalLM) -> llama.cpp "phi2": separate q/k/v with biases (llama.cpp also reads a fused
// attn_qkv; it loads either), fc1/fc2 as ffn_up/ffn_down, one LayerNorm per layer, lm_head with bias.
#include "imp/export/arch_map.h"

namespace imp::gguf {
namespace {

void hparams(Writer& w, const TextConfig& c) {
  common_hparams(w, "phi2", c);
  w.set("phi2.attention.layer_norm_epsilon", static_cast<float>(c.norm_eps));
  w.set("phi2.rope.dimension_count", static_cast<uint32_t>(c.rotary_dim));
  w.set("phi2.rope.freq_base", static_cast<float>(c.rope_theta));
}

}  // namespace

const ArchMap& phi2_map() {
  static const ArchMap m{"phi2",
                         {{"model.embed_tokens", "token_embd"}, {"model.final_layernorm", "output_norm"}, {"lm_head", "output"}},
                         {{"input_layernorm", "attn_norm"},
                          {"self_attn.q_proj", "attn_q"},
                          {"self_attn.k_proj", "attn_k"},
                          {"self_attn.v_proj", "attn_v"},
                          {"self_attn.dense", "attn_output"},
                          {"mlp.fc1", "ffn_up"},
                          {"mlp.fc2", "ffn_down"}},
                         hparams};
  return m;
}

}  // namespace imp::gguf
