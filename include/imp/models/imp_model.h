// ImpModel: the whole Imp model (SigLIP tower + projector + decoder) or one part of it, built from a
// model directory's config.json, with the LLaVA image splice of imp-reference 1.5.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/models/config.h"
#include "imp/models/language_model.h"
#include "imp/models/vision.h"

namespace imp {

struct ImpInputs {
  torch::Tensor input_ids;       // int64 [B,T], may contain -200 (image placeholders)
  torch::Tensor attention_mask;  // [B,T] 1/0, optional
  torch::Tensor pixel_values;    // float [N,3,S,S], optional
  torch::Tensor labels;          // int64 [B,T], optional (-100 = ignored)
  bool compute_loss = true;      // false: return the spliced labels but leave `loss` to the caller
  bool compute_logits = true;    // false: return the decoder's normed `hidden` instead of logits (and no loss);
                                 // the caller projects what it needs (labelled_loss_sum)
  bool pack = false;             // padding-free: the spliced samples run as one row [1, sum of lengths]
                                 // (block-diagonal attention, positions restarting per sample); the outputs'
                                 // labels mark each sample's first position -100 so nothing is predicted across
                                 // samples. Loss sums and gradients equal the padded batch's.
};

struct ImpOutputs {
  torch::Tensor logits;          // fp32 [B,T',V] (unless compute_logits is false)
  torch::Tensor hidden;          // normed decoder output [B,T',H], when compute_logits is false
  torch::Tensor loss;            // fp32 scalar, when labels were given
  torch::Tensor image_features;  // tower output [N,P,Dv], when pixels were given
  torch::Tensor image_embeds;    // projector output [N,P,H], when pixels were given and there is a projector
  torch::Tensor labels;          // labels after the splice [B,T'] (when labels were given)
  torch::Tensor attention_mask;  // attention mask after the splice [B,T'] int64 (packed: ones [1,N])
  std::vector<int64_t> packed_lengths;  // pack: the samples' lengths in the row
};

// Result of the splice: the decoder's inputs.
struct Spliced {
  torch::Tensor embeds, attention_mask, position_ids, labels;
};

// The real positions of a padded batch as one row [1,N]: embeddings, positions (restarting per sample) and
// labels (each sample's first label -100: it would be predicted from the previous sample), the mask all
// ones; `lengths` gets each sample's length.
Spliced pack_rows(const Spliced& padded, std::vector<int64_t>& lengths);

// Where the tower lives in an Imp checkpoint (CLIPVisionTower -> SiglipVisionModel -> vision_model),
// and the checkpoint tensors under `prefix` ("" for a SigLIP directory) that Imp does not use.
inline const char* const kImpTowerPrefix = "model.vision_tower.vision_tower.";
std::vector<std::string> unused_tower_prefixes(const ModelConfig& c, const std::string& prefix);

struct LoadSpec {
  torch::ScalarType dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  nn::AttentionImpl attention = nn::AttentionImpl::eager;
};

class ImpModel {
 public:
  explicit ImpModel(ModelConfig config);  // randomly initialised parts, per config.kind
  // Builds from <dir>/config.json and loads the weights strictly (see README "Model directories").
  static std::unique_ptr<ImpModel> from_pretrained(const std::string& dir, const LoadSpec& spec = {});
  // Imp's stage-1 assembly: a multimodal config (with mm_* fields and vision_tower_config), the decoder
  // weights of a text-only directory, the SigLIP weights of a vision directory, and the projector as
  // initialised by the constructor (seed the RNG first). Loading is strict for decoder and tower.
  static std::unique_ptr<ImpModel> from_parts(const Json& config, const std::string& llm_dir,
                                              const std::string& tower_dir, const LoadSpec& spec = {});

  ImpOutputs forward(const ImpInputs& in);
  // pixels -> (tower features, projector output); pixels are cast to the model dtype first.
  std::pair<torch::Tensor, torch::Tensor> encode_images(const torch::Tensor& pixels);
  Spliced splice(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, const torch::Tensor& labels,
                 const torch::Tensor& image_embeds);

  // The module whose parameter names are the checkpoint's tensor names.
  torch::nn::Module& root();
  const ModelConfig& config() const { return config_; }
  void set_attention_impl(nn::AttentionImpl impl);
  torch::ScalarType dtype();
  torch::Device device();

  std::shared_ptr<CausalLM> lm;  // null for a vision-only model
  SiglipVisionModel vision{nullptr};
  Projector projector{nullptr};

 private:
  ModelConfig config_;
};

// Shifted next-token cross entropy (mean over labels != -100), as *ForCausalLM.forward computes it.
torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace imp
