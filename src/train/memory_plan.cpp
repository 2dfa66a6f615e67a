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

  // Activations of one micro-batch at the longest sequence: the tensors autograd keeps per decoder layer and
  // position with eager attention (counted from imp's layer code):
  //  phi2: LayerNorm in/out, q, k, v, attention output (6h); gelu_new is composite: fc1 out, tanh out, 0.5x,
  //        1 + tanh, fc2 in (5i);
  //  qwen2/phi3: two RMSNorms (input and normalised, 4h), q, k, v, o_proj input (4h); gate/up out, silu out,
  //        down input (4i);
  //  all: with eager attention the probabilities (heads x T); LoRA with dropout: each adapted linear's dropped input and
  //  its mask (1 byte).
  const auto& t = cfg.text;
  const double e = half ? 2 : 4;
  const double pos = static_cast<double>(p.micro_batch) * static_cast<double>(p.seq_len);
  const double h = static_cast<double>(t.hidden_size), i = static_cast<double>(t.intermediate_size);
  double elements = t.arch == Arch::phi2 ? 6 * h + 5 * i : 8 * h + 4 * i;
  // Eager attention keeps the heads x T probabilities; fused SDPA (auto/sdpa on LibTorch 2.x) only a
  // log-sum-exp per head.
  const bool eager = a.attn_implementation == "eager" || !compat::kHasSdpa;
  elements += static_cast<double>(t.num_attention_heads) * (eager ? static_cast<double>(p.seq_len) * e : 4) / e;
  double lora_inputs = 0;  // sum of the adapted linears' input widths
  if (stage == Stage::finetune_lora && a.lora_dropout > 0)
    lora_inputs = t.arch == Arch::phi2 ? 5 * h + i : t.arch == Arch::qwen2 ? 6 * h + i : 3 * h + i;
  const double per_layer = pos * (elements * e + lora_inputs * (e + 1));
  const double layers = static_cast<double>(t.num_hidden_layers);
  // Backward of a layer also holds the gradients of its activations: one more layer's worth. Checkpointing keeps
  // each layer's fp32 input and recomputes one layer at a time.
  // The residual stream (a checkpointed layer's input) has the decoder weights' dtype.
  const double stream = stage == Stage::finetune ? trainable_bytes : frozen_bytes;
  // `selective` keeps less than no checkpointing (planned as that upper bound); `auto` recomputes whole layers
  // until its budget holds (planned as `full`, its lower bound; the run prints what it chose).
  const bool whole_layers = a.gradient_checkpointing == "full" || a.gradient_checkpointing == "auto";
  const double decoder = whole_layers ? layers * pos * h * stream + 2 * per_layer : (layers + 1) * per_layer;
  // lm_head + cross-entropy: fp32 logits, their softmax and gradient for the scored rows (labelled rows in
  // chunks of --logits_chunk_size; every position with 0).
  const double scored = a.logits_chunk_size > 0 ? std::min<double>(static_cast<double>(a.logits_chunk_size), pos) : pos;
  const double head = scored * static_cast<double>(t.vocab_size) * 4 * 3 + pos * h * 4;
  // Vision tower (frozen, nothing before it trains): one layer's forward working set per image.
  const auto& v = cfg.vision;
  const double patches = static_cast<double>(v.num_patches());
  const double tower = static_cast<double>(p.micro_batch) * patches *
                       ((4 * static_cast<double>(v.hidden_size) + static_cast<double>(v.intermediate_size) +
                         static_cast<double>(v.num_attention_heads) * patches) * e);
  p.activations = decoder + head + tower;
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
    << p.zero_stage << ", micro-batch " << p.micro_batch << " x " << p.seq_len << " tokens\n"
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
