// The SigLIP vision tower (as Imp truncates it) and the multimodal projector.
#pragma once

#include <torch/torch.h>

#include "imp/models/config.h"
#include "imp/nn/attention.h"
#include "imp/nn/layers.h"

namespace imp {

// transformers SiglipVisionModel with only the first `layers` encoder layers, no post_layernorm and no
// pooling head: Imp's `del encoder.layers[select_layer+1:]` + hidden_states[-1]. Module names:
// "vision_model.embeddings.patch_embedding", "vision_model.encoder.layers.N.self_attn.q_proj", ...
class SiglipVisionModelImpl : public torch::nn::Module {
 public:
  SiglipVisionModelImpl(const VisionConfig& config, int64_t layers);
  // pixels [N,C,S,S] (any float dtype) -> features [N,P,D] in the pixels' dtype (Imp casts back).
  torch::Tensor forward(const torch::Tensor& pixels);
  nn::AttentionImpl attention_impl = nn::AttentionImpl::eager;

 private:
  VisionConfig config_;
  std::shared_ptr<torch::nn::Module> vision_model_;
  torch::nn::Conv2d patch_embedding_{nullptr};
  torch::nn::Embedding position_embedding_{nullptr};
  std::vector<std::shared_ptr<torch::nn::Module>> layers_;
};
TORCH_MODULE(SiglipVisionModel);

// mm_projector: "linear" (one Linear) or "mlp{N}x_gelu" (Linear, then N-1 x [GELU(erf), Linear]),
// children named "0", "2", ... as nn.Sequential numbers them.
class ProjectorImpl : public torch::nn::Module {
 public:
  ProjectorImpl(const std::string& type, int64_t in_features, int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x);  // [N,P,mm_hidden] -> [N,P,H]
  // Where the projector's parameters sit relative to "mm_projector" ("0.weight" or "weight").
  bool is_linear() const { return linears_.empty(); }

 private:
  nn::Linear linear_{nullptr};
  std::vector<nn::Linear> linears_;
};
TORCH_MODULE(Projector);

}  // namespace imp
