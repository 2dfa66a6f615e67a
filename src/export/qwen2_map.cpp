// Qwen1.5 / Qwen2 (Qwen2ForCausalLM) -> llama.cpp "qwen2": q/k/v with biases, SwiGLU gate/up/down,
// RMSNorm before attention and MLP; a tied lm_head is simply absent (llama.cpp then uses token_embd).
#include "imp/export/arch_map.h"

namespace imp::gguf {
namespace {

void hparams(Writer& w, const TextConfig& c) {
  common_hparams(w, "qwen2", c);
  w.set("qwen2.attention.layer_norm_rms_epsilon", static_cast<float>(c.norm_eps));
  w.set("qwen2.rope.freq_base", static_cast<float>(c.rope_theta));
}

}  // namespace

const ArchMap& qwen2_map() {
  static const ArchMap m{"qwen2",
                         {{"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"lm_head", "output"}},
                         {{"input_layernorm", "attn_norm"},
                          {"post_attention_layernorm", "ffn_norm"},
                          {"self_attn.q_proj", "attn_q"},
                          {"self_attn.k_proj", "attn_k"},
                          {"self_attn.v_proj", "attn_v"},
                          {"self_attn.o_proj", "attn_output"},
                          {"mlp.gate_proj", "ffn_gate"},
                          {"mlp.up_proj", "ffn_up"},
                          {"mlp.down_proj", "ffn_down"}},
                         hparams};
  return m;
}

}  // namespace imp::gguf
