// SigLIP vision tower and projector; see vision.h. SigLIP follows transformers' modeling_siglip.py
// (pre-LN encoder layers, scores multiplied by head_dim^-0.5, gelu tanh MLP).
#include "imp/models/vision.h"

#include <regex>

#include "imp/core/error.h"

namespace imp {
namespace {

class SiglipAttention : public torch::nn::Module {
 public:
  explicit SiglipAttention(const VisionConfig& c) : heads_(c.num_attention_heads) {
    for (const char* name : {"q_proj", "k_proj", "v_proj", "out_proj"})
      proj_.push_back(register_module(name, nn::Linear(c.hidden_size, c.hidden_size, true)));
  }
  // x [N,P,D] -> [N,P,D]
  torch::Tensor forward(const torch::Tensor& x, nn::AttentionImpl impl) {
    const int64_t n = x.size(0), p = x.size(1), hd = x.size(2) / heads_;
    auto split = [&](nn::Linear& l) { return l(x).view({n, p, heads_, hd}).transpose(1, 2); };
    auto out = nn::attention(split(proj_[0]), split(proj_[1]), split(proj_[2]), torch::Tensor(),
                             nn::ScoreMode::dtype_scale, impl);
    return proj_[3](out.transpose(1, 2).reshape({n, p, -1}));
  }

 private:
  int64_t heads_;
  std::vector<nn::Linear> proj_;
};

class SiglipMlp : public torch::nn::Module {
 public:
  explicit SiglipMlp(const VisionConfig& c) {
    fc1 = register_module("fc1", nn::Linear(c.hidden_size, c.intermediate_size, true));
    fc2 = register_module("fc2", nn::Linear(c.intermediate_size, c.hidden_size, true));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(nn::gelu_tanh(fc1(x))); }
  nn::Linear fc1{nullptr}, fc2{nullptr};
};

class SiglipEncoderLayer : public torch::nn::Module {
 public:
  explicit SiglipEncoderLayer(const VisionConfig& c) {
    auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)); };
    self_attn = register_module("self_attn", std::make_shared<SiglipAttention>(c));
    layer_norm1 = register_module("layer_norm1", ln());
    mlp = register_module("mlp", std::make_shared<SiglipMlp>(c));
    layer_norm2 = register_module("layer_norm2", ln());
  }
  torch::Tensor forward(const torch::Tensor& x, nn::AttentionImpl impl) {
    auto h = x + self_attn->forward(layer_norm1(x), impl);
    return h + mlp->forward(layer_norm2(h));
  }
  std::shared_ptr<SiglipAttention> self_attn;
  std::shared_ptr<SiglipMlp> mlp;
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
};

}  // namespace

SiglipVisionModelImpl::SiglipVisionModelImpl(const VisionConfig& c, int64_t layers) : config_(c) {
  vision_model_ = register_module("vision_model", std::make_shared<torch::nn::Module>());
  auto embeddings = vision_model_->register_module("embeddings", std::make_shared<torch::nn::Module>());
  patch_embedding_ = embeddings->register_module(
      "patch_embedding",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size).stride(c.patch_size)));
  position_embedding_ =
      embeddings->register_module("position_embedding", torch::nn::Embedding(c.num_patches(), c.hidden_size));
  auto encoder = vision_model_->register_module("encoder", std::make_shared<torch::nn::Module>());
  auto list = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    layers_.push_back(std::make_shared<SiglipEncoderLayer>(c));
    list->push_back(layers_.back());
  }
}

torch::Tensor SiglipVisionModelImpl::forward(const torch::Tensor& pixels) {
  IMP_CHECK(pixels.dim() == 4 && pixels.size(1) == config_.num_channels && pixels.size(2) == config_.image_size &&
                pixels.size(3) == config_.image_size,
            "pixel_values has shape ", pixels.sizes(), ", expected [N, ", config_.num_channels, ", ",
            config_.image_size, ", ", config_.image_size, "]");
  const auto dtype = patch_embedding_->weight.scalar_type();
  // [N,C,S,S] -> [N,D,S/p,S/p] -> [N,P,D]; the conv ignores the S mod p last rows/columns.
  auto x = patch_embedding_(pixels.to(dtype)).flatten(2).transpose(1, 2);
  x = x + position_embedding_->weight.unsqueeze(0);
  for (auto& layer : layers_) x = std::static_pointer_cast<SiglipEncoderLayer>(layer)->forward(x, attention_impl);
  return x.to(pixels.scalar_type());
}

ProjectorImpl::ProjectorImpl(const std::string& type, int64_t in, int64_t out) {
  if (type == "linear") {
    linear_ = nn::Linear(in, out, true);
    register_parameter("weight", linear_->weight);
    register_parameter("bias", linear_->bias);
    return;
  }
  std::smatch m;
  IMP_CHECK(std::regex_match(type, m, std::regex("^mlp(\\d+)x_gelu$")), "mm_projector_type '", type,
            "' is not supported; expected linear or mlp<N>x_gelu (Imp uses mlp2x_gelu)");
  const int depth = std::stoi(m[1].str());
  IMP_CHECK(depth >= 1 && depth <= 8, "mm_projector_type '", type, "': depth must be 1..8");
  for (int i = 0; i < depth; ++i)
    linears_.push_back(register_module(std::to_string(2 * i), nn::Linear(i == 0 ? in : out, out, true)));
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& x) {
  if (is_linear()) return linear_(x);
  auto h = linears_[0](x);
  for (size_t i = 1; i < linears_.size(); ++i) h = linears_[i](nn::gelu_erf(h));
  return h;
}

}  // namespace imp
