#include "imp/train/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "imp/core/compat.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"

namespace imp::train {
namespace {

struct DecoderCount {
  int64_t params = 0;      // decoder, embeddings and lm_head
  int64_t lora = 0;        // LoRA A and B on every decoder linear and lm_head (imp finetune-lora)
};

int64_t linear(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }

DecoderCount count_decoder(const TextConfig& t, int64_t lora_r) {
  const int64_t h = t.hidden_size, i = t.intermediate_size, v = t.vocab_size;
  const int64_t q = t.num_attention_heads * t.head_dim, kv = t.num_key_value_heads * t.head_dim;
  DecoderCount c;
  int64_t layer = 0, lora = 0, tail = 0;
  auto lin = [&](int64_t in, int64_t out, bool bias) {
    lora += lora_r * (in + out);
    return linear(in, out, bias);
  };
  switch (t.arch) {
    case Arch::phi2:  // q, k, v, dense, fc1, fc2 with biases; one LayerNorm; final LayerNorm; lm_head with bias
      layer = lin(h, q, true) + 2 * lin(h, kv, true) + lin(q, h, true) + lin(h, i, true) + lin(i, h, true) + 2 * h;
      tail = 2 * h;
      break;
    case Arch::qwen2:  // q, k, v with biases, o without; gated MLP; two RMSNorms
      layer = lin(h, q, true) + 2 * lin(h, kv, true) + lin(q, h, false) + 2 * lin(h, i, false) + lin(i, h, false) +
              2 * h;
      tail = h;
      break;
    case Arch::phi3:  // fused qkv and gate_up, no biases; two RMSNorms
      layer = lin(h, q + 2 * kv, false) + lin(q, h, false) + lin(h, 2 * i, false) + lin(i, h, false) + 2 * h;
      tail = h;
      break;
  }
  c.lora = lora * t.num_hidden_layers;
  c.params = layer * t.num_hidden_layers + v * h + tail;
  if (!t.tie_word_embeddings) {
    c.params += linear(h, v, t.arch == Arch::phi2);
    c.lora += lora_r * (h + v);
  }
  return c;
}

int64_t count_vision(const VisionConfig& v, int64_t layers) {
  const int64_t h = v.hidden_size, i = v.intermediate_size;
  const int64_t embeddings = v.num_channels * v.patch_size * v.patch_size * h + h + v.num_patches() * h;
  const int64_t layer = 4 * linear(h, h, true) + linear(h, i, true) + linear(i, h, true) + 4 * h;
  return embeddings + layer * layers;
}

// mlp<N>x_gelu: N linears (mm_hidden -> h, then h -> h); linear: one.
int64_t count_projector(const ModelConfig& c, const std::string& type) {
  const int64_t h = c.text.hidden_size;
  int64_t depth = 1;
  if (type != "linear") depth = std::stoll(type.substr(3, type.size() - 3 - 6));
  return linear(c.mm_hidden_size, h, true) + (depth - 1) * linear(h, h, true);
}

}  // namespace

ModelConfig plan_config(const std::string& path) {
  IMP_CHECK_KIND(!path.empty(), ErrorKind::usage, "--print_memory_plan needs --model_name_or_path (a config.json, "
                 "or a model directory; weights are not read)");
  if (is_directory(path)) return ModelConfig::load(path);
  IMP_CHECK_KIND(path_exists(path), ErrorKind::usage, "--model_name_or_path ", path,
                 ": no such file or directory (give a config.json, e.g. configs/models/imp-v1.5-4b-phi3.json)");
  return ModelConfig::from_json(read_json_file(path), path);
}

ActivationSetup activation_setup(const ModelConfig& cfg, const TrainArgs& a, Stage stage) {
  const auto& t = cfg.text;
  ActivationSetup s;
  const bool half = a.bf16 || a.fp16;
  s.act_bytes = half ? 2 : 4;
  // Weight dtypes as the trainer stores them (train_model.cpp): a half-precision frozen base, and trainable
  // decoder weights in half precision only under ZeRO-1 (fp32 masters in the optimizer).
  const bool half_frozen = half && a.half_base && stage != Stage::finetune;
  const bool half_trainable = half && a.half_base && stage == Stage::finetune && a.resolved_zero_stage() >= 1;
  s.stream_bytes = (stage == Stage::finetune ? half_trainable : half_frozen) ? 2 : 4;
  s.image_bytes = half && a.half_base ? 2 : 4;  // the tower is frozen in every stage
  s.eager = a.attn_implementation == "eager" || !compat::kHasSdpa;
  s.logits_chunk = a.logits_chunk_size;
  if (stage == Stage::finetune_lora) {  // LoRA on every decoder linear of a layer
    const int64_t h = t.hidden_size, i = t.intermediate_size, q = t.num_attention_heads * t.head_dim;
    const int64_t inputs = t.arch == Arch::phi2 ? 4 * h + q + i : t.arch == Arch::qwen2 ? 5 * h + q + i : 2 * h + q + i;
    s.lora_ranks = a.lora_r * (t.arch == Arch::phi2 ? 6 : t.arch == Arch::qwen2 ? 7 : 4);
    s.lora_dropout_in = a.lora_dropout > 0 ? inputs : 0;
  }
  return s;
}

MemoryPlan plan_memory(const ModelConfig& cfg, const TrainArgs& a, Stage stage, int64_t world_size) {
  IMP_CHECK_KIND(cfg.kind != ModelKind::vision, ErrorKind::usage, "the memory plan needs a decoder config, not a "
                 "vision tower's");
  MemoryPlan p;
  p.model = cfg.model_type;
  p.world_size = std::max<int64_t>(world_size, 1);
  p.zero_stage = a.resolved_zero_stage();
  p.micro_batch = a.per_device_train_batch_size;
  p.seq_len = a.model_max_length;
  if (cfg.tokenizer_model_max_length) p.seq_len = std::min(p.seq_len, *cfg.tokenizer_model_max_length);

  const auto dec = count_decoder(cfg.text, stage == Stage::finetune_lora ? a.lora_r : 0);
  p.decoder_params = dec.params;
  ModelConfig with_layer = cfg;
  with_layer.mm_vision_select_layer = a.mm_vision_select_layer;
  p.vision_params = count_vision(cfg.vision, with_layer.vision_layers_kept());
  p.projector_params = count_projector(cfg, a.mm_projector_type);
  p.lora_params = stage == Stage::finetune_lora ? dec.lora : 0;

  const bool train_projector = !a.freeze_mm_mlp_adapter;
  p.trainable_params = (train_projector ? p.projector_params : 0) + p.lora_params +
                (stage == Stage::finetune ? p.decoder_params : 0);
  p.frozen_params = p.decoder_params + p.vision_params + p.projector_params + p.lora_params - p.trainable_params;

  // Dtypes as the trainer stores them (train_model.cpp, trainer.cpp).
  const bool half = a.bf16 || a.fp16;
  const double frozen_bytes = half && a.half_base && stage != Stage::finetune ? 2 : 4;
  const bool half_trainable = half && a.half_base && stage == Stage::finetune && p.zero_stage >= 1;
  const double trainable_bytes = half_trainable ? 2 : 4;
  const double W = static_cast<double>(p.world_size);
  const double n = static_cast<double>(p.trainable_params);
  p.weights = static_cast<double>(p.frozen_params) * frozen_bytes + n * trainable_bytes;
  p.gradients = n * trainable_bytes;  // whole on every rank during backward (ZeRO-1 shards them after)
  p.optimizer = p.zero_stage >= 1 ? n * 12.0 / W  // fp32 moments + fp32 master, 1/world each
                                  : n * 8.0;       // fp32 moments
  if (p.zero_stage >= 1) p.gradients += n * trainable_bytes / W;  // the reduce-scattered shard

  // Activations of one micro-batch at the longest sequence, one image per sample (Imp gives text-only samples
  // a dummy image): the estimate the auto plan uses too (activation_estimate.h).
  const auto est = estimate_activations(cfg, activation_setup(cfg, a, stage));
  const auto shape = BatchShape::padded(p.micro_batch, p.seq_len, p.micro_batch);
  const std::string& mode = a.gradient_checkpointing;
  p.whole_layers = mode == "full" ? est.layers : 0;
  if (mode == "auto") {  // with a budget what the run would choose (its process overhead aside); else all whole
    CheckpointPlan plan;
    plan.activations = est;
    plan.fixed_bytes = p.weights + p.gradients + p.optimizer;
    plan.budget_bytes = a.memory_budget_gb * 1024.0 * 1024.0 * 1024.0;
    p.whole_layers = a.memory_budget_gb > 0 ? plan.full_layers(shape) : est.layers;
  }
  p.activations = est.peak(shape, p.whole_layers, mode == "selective" || mode == "auto");
  return p;
}

std::string format_memory_plan(const MemoryPlan& p, Stage stage) {
  auto gib = [](double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%8.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    return std::string(buf);
  };
  auto billions = [](int64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f B", static_cast<double>(n) / 1e9);
    return std::string(buf);
  };
  std::ostringstream o;
  o << "imp memory plan: " << stage_name(stage) << " of " << p.model << " on " << p.world_size << " rank(s), ZeRO stage "
    << p.zero_stage << ", micro-batch " << p.micro_batch << " x " << p.seq_len << " tokens, " << p.whole_layers
    << " decoder layer(s) recomputed whole\n"
    << "  parameters: decoder " << billions(p.decoder_params) << ", vision " << billions(p.vision_params)
    << ", projector " << billions(p.projector_params) << ", LoRA " << billions(p.lora_params) << "; trainable "
    << billions(p.trainable_params) << "\n"
    << "  per rank:\n"
    << "    weights          " << gib(p.weights) << "\n"
    << "    gradients        " << gib(p.gradients) << "\n"
    << "    optimizer state  " << gib(p.optimizer) << "\n"
    << "    activations      " << gib(p.activations) << "\n"
    << "    total            " << gib(p.total()) << "\n";
  for (double gb : {40.0, 80.0})
    o << "  fits a " << gb << " GB device: " << (p.total() <= gb * 1e9 * 0.95 ? "yes" : "no")
      << " (95% of it usable)\n";
  return o.str();
}

}  // namespace imp::train
