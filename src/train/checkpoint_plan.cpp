#include "imp/train/checkpoint_plan.h"

#include <algorithm>
#include <string>

#include "imp/core/build_info.h"
#include "imp/core/proc_memory.h"
#include "imp/nn/layers.h"
#include "imp/train/memory_plan.h"

namespace imp::train {

ActivationSetup activation_setup(ImpModel& model, bool half_autocast, int64_t logits_chunk) {
  ActivationSetup s;
  s.act_bytes = half_autocast ? 2 : 4;
  s.eager = model.lm->attention_impl != nn::AttentionImpl::sdpa;
  s.logits_chunk = logits_chunk;
  for (auto& item : model.lm->named_parameters())
    if (item.key() == "model.embed_tokens.weight") s.stream_bytes = item.value().element_size();
  if (model.vision) s.image_bytes = model.vision->parameters().front().element_size();
  for (auto& item : model.lm->named_modules()) {
    if (item.key().rfind("model.layers.0.", 0) != 0) continue;  // one layer's adapters
    auto* lin = dynamic_cast<nn::LinearImpl*>(item.value().get());
    if (!lin || !lin->has_lora()) continue;
    s.lora_ranks += lin->lora_A->weight.size(0);
    if (lin->lora_dropout() > 0) s.lora_dropout_in += lin->lora_A->weight.size(1);
  }
  return s;
}

CheckpointPlan make_checkpoint_plan(ImpModel& model, const TrainArgs& a, Stage stage, int64_t world_size,
                                    const torch::Device& device, double process_bytes) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  CheckpointPlan plan;
  plan.activations = estimate_activations(model.config(), activation_setup(model, a.bf16 || a.fp16, a.logits_chunk_size));
  const auto mem = plan_memory(model.config(), a, stage, world_size);
  plan.fixed_bytes = mem.weights + mem.gradients + mem.optimizer;
  if (device.is_cuda()) {
    plan.budget_bytes = a.memory_budget_gb > 0 ? a.memory_budget_gb * kGiB
                                               : 0.9 * cuda_total_memory_bytes(device.has_index() ? device.index() : 0);
  } else {
    // The rest of the process (LibTorch, the tokenizer, the dataset): resident memory that is not parameters.
    double params = 0;
    for (const auto& p : model.root().parameters()) params += static_cast<double>(p.numel() * p.element_size());
    auto known = [](int64_t bytes) { return static_cast<double>(std::max<int64_t>(0, bytes)); };  // -1: not Linux
    const double rss = known(proc_status_bytes("VmRSS"));
    plan.fixed_bytes += process_bytes >= 0 ? process_bytes : std::max(0.0, rss - params);
    plan.budget_bytes = a.memory_budget_gb > 0 ? a.memory_budget_gb * kGiB : 0.9 * (rss + known(meminfo_bytes("MemAvailable")));
  }
  return plan;
}

}  // namespace imp::train
