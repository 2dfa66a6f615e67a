// The one activation-memory estimate of training (torch-free): what a decoder layer keeps for backward per
// position under each recomputation mode, plus the lm_head / loss and the image terms of a micro-batch. Used by
// --print_memory_plan (memory_plan.h, the decoder term) and by --gradient_checkpointing auto
// (checkpoint_plan.h, how many layers to recompute whole), so the two never disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imp/models/config.h"

namespace imp::train {

// Estimated bytes one decoder layer keeps for backward.
struct LayerActivationBytes {
  double whole = 0;          // per position, a layer recomputed whole (its input: the residual stream)
  double selective = 0;      // per position, under selective recomputation (the matmul outputs, norms, LoRA)
  double none = 0;           // per position, nothing recomputed (adds the attention core and MLP activation)
  double none_per_pair = 0;  // per (query, key) pair of a row, nothing recomputed (eager attention scores)
};

// What the trainer stores, in bytes per element, and the kernels that decide what autograd keeps.
struct ActivationSetup {
  int64_t act_bytes = 4;     // matmul outputs: 2 under bf16/fp16 autocast, 4 in fp32
  int64_t stream_bytes = 4;  // the residual stream (a whole-recomputed layer's input): the embedding weights'
                             // dtype (the spliced embeddings have it, and the bf16 sublayer outputs added to
                             // it do not narrow an fp32 stream)
  bool eager = false;        // eager attention keeps [heads, T, T] probabilities; SDPA a log-sum-exp per head
  int64_t lora_dropout_in = 0;  // one layer's adapted linears with dropout: their summed input widths
  int64_t lora_ranks = 0;       // one layer's adapters: their summed ranks
  int64_t logits_chunk = 0;     // > 0: lm_head + loss on labelled rows, that many at once; 0: every position
  int64_t image_bytes = 4;      // the frozen tower's dtype (its output features)
};

// One micro-batch as the decoder sees it.
struct BatchShape {
  double positions = 0;  // rows x padded length, or the summed lengths of a packed row
  double pairs = 0;      // (query, key) pairs eager attention scores: rows x length^2, or the sum of length^2
  double scored = -1;    // rows the loss scores (labelled positions); < 0: unknown, taken as every position
  double images = 0;     // images through the tower and projector
  static BatchShape padded(int64_t rows, int64_t length, int64_t images = 0);
  static BatchShape packed(const std::vector<int64_t>& lengths, int64_t images = 0);
};

LayerActivationBytes layer_activation_bytes(const TextConfig& c, const ActivationSetup& s);

struct ActivationEstimate {
  int64_t layers = 0;
  LayerActivationBytes layer;
  int64_t vocab = 0, hidden = 0, logits_chunk = 0;
  double image_kept = 0;       // per image, kept for backward: the projector's input and activations
  double image_transient = 0;  // per image, the frozen tower's forward working set (one layer, no autograd)
  // Peak activation bytes of one training step of `b`: n_whole layers recomputed whole, the other layers
  // selective (selective = true) or keeping everything (false). Autograd keeps every layer's part to the end of
  // forward; the largest transient is then the backward of one layer (its full set, recomputed where needed,
  // plus the gradients of its activations) or the loss head's logits, and the tower's working set comes
  // before the decoder's (it only matters when larger).
  double peak(const BatchShape& b, int64_t n_whole, bool selective) const;
  // The head's part alone: fp32 logits, log-softmax and their gradient for the scored rows, plus the final
  // norm's fp32 output.
  double head(const BatchShape& b) const;
};

ActivationEstimate estimate_activations(const ModelConfig& cfg, const ActivationSetup& s);

// --gradient_checkpointing auto: how many decoder layers to recompute whole so that a micro-batch fits a
// memory budget, the others under selective recomputation.
struct CheckpointPlan {
  double budget_bytes = 0;  // peak memory to plan for
  double fixed_bytes = 0;   // weights, gradients, optimizer state (memory_plan.h) and the rest of the process
  ActivationEstimate activations;
  // The smallest N (0..layers) with fixed + the peak of N whole and layers - N selective layers <= budget;
  // `layers` when even that does not fit.
  int64_t full_layers(const BatchShape& b) const;
  double estimate_bytes(const BatchShape& b, int64_t n_whole) const;
  std::string describe() const;
};

}  // namespace imp::train
