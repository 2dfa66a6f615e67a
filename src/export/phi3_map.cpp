// Phi-3 (Phi3ForCausalLM) -> llama.cpp "phi3": fused qkv_proj as attn_qkv, fused gate_up_proj as ffn_up
// (llama.cpp splits it), RMSNorm, rope scaling's original context and the sliding window as in
// convert_hf_to_gguf.py. Long-context factors (su/longrope) are refused by the exporter (not written yet).
#include "imp/export/arch_map.h"

namespace imp::gguf {
namespace {

void hparams(Writer& w, const TextConfig& c) {
  common_hparams(w, "phi3", c);
  w.set("phi3.attention.layer_norm_rms_epsilon", static_cast<float>(c.norm_eps));
  w.set("phi3.rope.dimension_count", static_cast<uint32_t>(c.rotary_dim));
  w.set("phi3.rope.freq_base", static_cast<float>(c.rope_theta));
  w.set("phi3.rope.scaling.original_context_length",
        static_cast<uint32_t>(c.original_max_position_embeddings > 0 ? c.original_max_position_embeddings
                                                                     : c.max_position_embeddings));
  w.set("phi3.attention.sliding_window", static_cast<uint32_t>(c.sliding_window.value_or(0)));
}

}  // namespace

const ArchMap& phi3_map() {
  static const ArchMap m{"phi3",
                         {{"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"}},
                         {{"input_layernorm", "attn_norm"},
                          {"post_attention_layernorm", "ffn_norm"},
                          {"self_attn.qkv_proj", "attn_qkv"},
                          {"self_attn.o_proj", "attn_output"},
                          {"mlp.gate_up_proj", "ffn_up"},
                          {"mlp.down_proj", "ffn_down"}},
                         hparams};
  return m;
}

}  // namespace imp::gguf
