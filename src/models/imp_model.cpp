// ImpModel: assembly, checkpoint loading (with the one prefix-rename table) and the image splice.
#include "imp/models/imp_model.h"

#include <algorithm>
#include <optional>

#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/io/state_dict.h"
#include "imp/models/tower_weights.h"
#include "imp/quant/quant_linear.h"

namespace imp {
namespace {

// Where the tower lives in a SigLIP checkpoint; kImpTowerPrefix + this is the only renaming imp does.
const std::string kSiglipTowerPrefix = "vision_model.";

}  // namespace

bool has_tower_weights(const StateDict& sd) {
  auto it = sd.lower_bound(kImpTowerPrefix);
  return it != sd.end() && it->first.rfind(kImpTowerPrefix, 0) == 0;
}

void add_tower_weights(StateDict& sd, const std::string& tower_dir) {
  for (auto& [name, t] : rename_prefix(load_model_dir(tower_dir), kSiglipTowerPrefix, kImpTowerPrefix + kSiglipTowerPrefix))
    sd.emplace(name, t);
}

namespace {

// With tie_word_embeddings, lm_head.weight is model.embed_tokens.weight and safetensors files made by
// transformers hold only the latter. Some tools still write both; an equal copy is dropped, a different one
// is an error (transformers would silently use one of the two).
void drop_tied_lm_head(const ModelConfig& c, StateDict& sd, const std::string& origin) {
  auto head = sd.find("lm_head.weight");
  if (!c.text.tie_word_embeddings || head == sd.end()) return;
  auto embed = sd.find("model.embed_tokens.weight");
  IMP_CHECK(embed != sd.end() && torch::equal(embed->second, head->second), origin,
            ": tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight",
            "\nhint: if the checkpoint really has a separate output layer, set \"tie_word_embeddings\": false in "
            "config.json");
  sd.erase(head);
}

}  // namespace

// The pooling head, post_layernorm (kept in v1-era checkpoints) and the layers after mm_vision_select_layer.
std::vector<std::string> unused_tower_prefixes(const ModelConfig& c, const std::string& prefix) {
  std::vector<std::string> out = {prefix + "vision_model.post_layernorm.", prefix + "vision_model.head."};
  for (int64_t i = c.vision_layers_kept(); i < c.vision.num_hidden_layers; ++i)
    out.push_back(prefix + "vision_model.encoder.layers." + std::to_string(i) + ".");
  return out;
}

ImpModel::ImpModel(ModelConfig config) : config_(std::move(config)) {
  if (config_.kind == ModelKind::vision) {
    vision = SiglipVisionModel(config_.vision, config_.vision_layers_kept());
    return;
  }
  lm = make_causal_lm(config_.text);
  if (config_.kind == ModelKind::multimodal) {
    auto wrapper = lm->inner().register_module("vision_tower", std::make_shared<torch::nn::Module>());
    vision = wrapper->register_module("vision_tower", SiglipVisionModel(config_.vision, config_.vision_layers_kept()));
    projector = lm->inner().register_module(
        "mm_projector", Projector(config_.mm_projector_type, config_.mm_hidden_size, config_.text.hidden_size));
  }
}

torch::nn::Module& ImpModel::root() { return lm ? static_cast<torch::nn::Module&>(*lm) : *vision; }

torch::ScalarType ImpModel::dtype() { return root().parameters().front().scalar_type(); }
torch::Device ImpModel::device() { return root().parameters().front().device(); }

void ImpModel::set_attention_impl(nn::AttentionImpl impl) {
  if (lm) lm->attention_impl = impl;
  if (vision) vision->attention_impl = impl;
}

std::unique_ptr<ImpModel> ImpModel::from_pretrained(const std::string& dir, const LoadSpec& spec) {
  auto model = std::make_unique<ImpModel>(ModelConfig::load(dir));
  const ModelConfig& c = model->config();
  model->root().to(spec.device, spec.dtype);
  model->root().eval();  // as HF from_pretrained: dropout off until a trainer calls train()
  model->set_attention_impl(spec.attention);
  StateDict sd = load_model_dir(dir);
  LoadOptions opt;
  if (c.kind == ModelKind::vision) {
    opt.ignore_prefixes = unused_tower_prefixes(c, "");
    load_into(model->root(), sd, dir, opt);
    return model;
  }
  if (c.kind == ModelKind::multimodal && !has_tower_weights(sd)) {
    // A decoder checkpoint whose tower lives in the SigLIP directory named by mm_vision_tower.
    const std::string tower = vision_tower_dir(c.mm_vision_tower, dir);
    IMP_CHECK(is_directory(tower), dir, ": the checkpoint has no vision tower weights (", kImpTowerPrefix,
              "*) and mm_vision_tower '", c.mm_vision_tower, "' is not a local directory",
              "\nhint: point mm_vision_tower in config.json at a SigLIP folder with model.safetensors");
    add_tower_weights(sd, tower);
  }
  if (c.kind == ModelKind::multimodal) opt.ignore_prefixes = unused_tower_prefixes(c, kImpTowerPrefix);
  drop_tied_lm_head(c, sd, dir);
  const bool quantized = quant::find_quant_config(c.raw, join_path(dir, "config.json")).has_value();
  std::shared_ptr<quant::QuantKernel> embedding;
  if (quantized) {
    quant::attach_quantized(model->root(), sd, dir, spec.device);
    const std::string name = "model.embed_tokens";
    if (sd.count(name + ".qweight")) {
      IMP_CHECK(!sd.count(name + ".weight"), dir, ": ", name, " has both 'weight' and 'qweight'");
      const int64_t vocab = c.text.vocab_size, hidden = c.text.hidden_size;
      embedding = std::make_shared<quant::QuantKernel>(quant::stored_layer_config(sd, name, vocab, hidden, dir), vocab,
                                                       hidden, spec.device);
      model->lm->set_embedding_kernel(embedding);
    }
  }
  load_into(model->root(), sd, dir, opt);
  if (quantized) {
    quant::prepare_quantized(model->root(), dir);  // every quantized Linear, a tied lm_head included
    try {
      if (embedding) embedding->check();
    } catch (const std::exception& e) {
      IMP_FAIL(dir, ": quantized model.embed_tokens: ", e.what(), "\nhint: the file is corrupt; quantize the full-precision model again");
    }
  }
  return model;
}

std::unique_ptr<ImpModel> ImpModel::from_parts(const Json& config, const std::string& llm_dir,
                                               const std::string& tower_dir, const LoadSpec& spec) {
  auto model = std::make_unique<ImpModel>(ModelConfig::from_json(config, llm_dir + " + " + tower_dir));
  const ModelConfig& c = model->config();
  IMP_CHECK(c.kind == ModelKind::multimodal, "from_parts needs a multimodal (imp*) config");
  model->root().to(spec.device, spec.dtype);
  model->root().eval();
  model->set_attention_impl(spec.attention);
  StateDict sd = load_model_dir(llm_dir);
  add_tower_weights(sd, tower_dir);
  LoadOptions opt;
  opt.ignore_prefixes = unused_tower_prefixes(c, kImpTowerPrefix);
  opt.optional_prefixes = {"model.mm_projector."};
  drop_tied_lm_head(c, sd, llm_dir);
  load_into(model->root(), sd, llm_dir + " + " + tower_dir, opt);
  return model;
}

std::pair<torch::Tensor, torch::Tensor> ImpModel::encode_images(const torch::Tensor& pixels) {
  IMP_CHECK(vision, "this model has no vision tower; pixel_values cannot be used");
  // The tower's own dtype: a training run may keep the frozen tower in half precision beside an fp32
  // projector. A frozen tower runs without autograd (nothing in it trains and the pixels need no grad).
  const auto params = vision->parameters();
  const bool frozen = std::none_of(params.begin(), params.end(), [](const torch::Tensor& p) { return p.requires_grad(); });
  torch::Tensor features;
  {
    std::optional<torch::NoGradGuard> no_grad;
    if (frozen) no_grad.emplace();
    features = vision->forward(pixels.to(device(), params.front().scalar_type()));
  }
  torch::Tensor embeds = projector ? projector->forward(features) : torch::Tensor();
  return {features, embeds};
}

Spliced ImpModel::splice(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                         const torch::Tensor& labels_in, const torch::Tensor& image_embeds) {
  const int64_t batch = input_ids.size(0);
  const auto dev = input_ids.device();
  auto mask = attention_mask.defined() ? attention_mask.to(torch::kBool) : torch::ones_like(input_ids, torch::kBool);
  auto labels = labels_in.defined() ? labels_in : torch::full_like(input_ids, kIgnoreIndex);
  const int64_t n_images = image_embeds.defined() ? image_embeds.size(0) : 0;

  // Image slots: Imp gives every text-only sample a dummy image that it skips (pixel_values has one
  // entry per text-only sample); callers without dummies give exactly one image per <image>.
  auto is_image = input_ids.eq(kImageTokenIndex).logical_and(mask);
  const int64_t image_tokens = is_image.sum().item<int64_t>();
  const int64_t text_only = (is_image.sum(1) == 0).sum().item<int64_t>();
  const bool dummy_slots = text_only > 0 && n_images == image_tokens + text_only;
  IMP_CHECK(n_images == image_tokens || dummy_slots, "pixel_values holds ", n_images, " images but input_ids has ",
            image_tokens, " <image> tokens (-200) in ", batch, " samples, ", text_only,
            " of them text-only; give one image per <image> token (optionally plus one dummy per text-only sample)");

  std::vector<torch::Tensor> seq_embeds, seq_labels;
  int64_t slot = 0;
  for (int64_t i = 0; i < batch; ++i) {
    auto ids = input_ids[i].masked_select(mask[i]);
    auto lab = labels[i].masked_select(mask[i]);
    auto image_pos = ids.eq(kImageTokenIndex).nonzero().flatten();
    auto text = lm->embed(ids.masked_select(ids.ne(kImageTokenIndex)));
    if (image_pos.numel() == 0) {
      seq_embeds.push_back(text);
      seq_labels.push_back(lab);
      if (dummy_slots) ++slot;
      continue;
    }
    std::vector<torch::Tensor> e, l;
    int64_t start = 0, text_start = 0;
    auto pos = image_pos.to(torch::kCPU);
    for (int64_t k = 0; k <= pos.numel(); ++k) {
      const int64_t end = k < pos.numel() ? pos[k].item<int64_t>() : ids.size(0);
      e.push_back(text.slice(0, text_start, text_start + (end - start)));
      l.push_back(lab.slice(0, start, end));
      text_start += end - start;
      if (k < pos.numel()) {
        auto img = image_embeds[slot++];
        e.push_back(img.to(text.scalar_type()));
        l.push_back(torch::full({img.size(0)}, kIgnoreIndex, lab.options()));
      }
      start = end + 1;
    }
    seq_embeds.push_back(torch::cat(e));
    seq_labels.push_back(torch::cat(l));
  }

  int64_t max_len = 0;
  for (auto& e : seq_embeds) max_len = std::max(max_len, e.size(0));
  if (config_.tokenizer_model_max_length) max_len = std::min(max_len, *config_.tokenizer_model_max_length);
  const bool left = config_.tokenizer_padding_side == "left";
  auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  Spliced out;
  out.embeds = torch::zeros({batch, max_len, seq_embeds[0].size(1)}, seq_embeds[0].options());
  out.labels = torch::full({batch, max_len}, kIgnoreIndex, i64);
  out.attention_mask = torch::zeros({batch, max_len}, i64);
  out.position_ids = torch::arange(max_len, i64).unsqueeze(0).repeat({batch, 1});
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t n = std::min(seq_embeds[i].size(0), max_len);
    const int64_t at = left ? max_len - n : 0;
    // copy_ into views of the zero buffer keeps autograd to the embeddings (CopySlices).
    out.embeds.select(0, i).slice(0, at, at + n).copy_(seq_embeds[i].slice(0, 0, n));
    out.labels.select(0, i).slice(0, at, at + n).copy_(seq_labels[i].slice(0, 0, n));
    out.attention_mask.select(0, i).slice(0, at, at + n).fill_(1);
    if (left) {
      // Python Imp computes these positions and then drops them (the model uses arange); left
      // padding therefore shifted every position in Python. imp uses them.
      out.position_ids.select(0, i).zero_();
      out.position_ids.select(0, i).slice(0, at, at + n).copy_(torch::arange(n, i64));
    }
  }
  return out;
}

ImpOutputs ImpModel::forward(const ImpInputs& in) {
  ImpOutputs out;
  const bool has_pixels = in.pixel_values.defined() && in.pixel_values.numel() > 0;
  if (has_pixels) std::tie(out.image_features, out.image_embeds) = encode_images(in.pixel_values);
  if (!lm) return out;
  IMP_CHECK(in.input_ids.defined() && in.input_ids.dim() == 2, "input_ids must be an int64 [B,T] tensor");
  const auto dev = device();
  auto ids = in.input_ids.to(dev, torch::kInt64);
  auto mask = in.attention_mask.defined() ? in.attention_mask.to(dev, torch::kInt64) : torch::Tensor();
  auto labels = in.labels.defined() ? in.labels.to(dev, torch::kInt64) : torch::Tensor();
  const bool has_image_tokens = ids.eq(kImageTokenIndex).any().item<bool>();

  Spliced s;
  if (config_.kind == ModelKind::multimodal && (has_pixels || has_image_tokens)) {
    IMP_CHECK(has_pixels, "input_ids contain <image> tokens (-200) but no pixel_values were given");
    s = splice(ids, mask, labels, out.image_embeds);
  } else {
    IMP_CHECK(!has_image_tokens, "input_ids contain <image> tokens (-200) but this is a text-only model");
    const int64_t max_id = ids.numel() ? ids.max().item<int64_t>() : 0;
    const int64_t min_id = ids.numel() ? ids.min().item<int64_t>() : 0;
    IMP_CHECK(min_id >= 0 && max_id < lm->config().vocab_size, "input_ids hold ids in [", min_id, ", ", max_id,
              "], outside the vocabulary [0, ", lm->config().vocab_size, ")");
    s.embeds = lm->embed(ids);
    s.attention_mask = mask.defined() ? mask : torch::ones_like(ids);
    s.labels = labels;
    s.position_ids = torch::arange(ids.size(1), ids.options()).unsqueeze(0).repeat({ids.size(0), 1});
  }
  if (in.pack) s = pack_rows(s, out.packed_lengths);
  if (lm->recompute.plan) {  // what the auto plan cannot see from the decoder's input
    lm->recompute.scored_rows = s.labels.defined() ? s.labels.ne(kIgnoreIndex).sum().item<int64_t>() : -1;
    lm->recompute.images = has_pixels ? in.pixel_values.size(0) : 0;
  }
  auto hidden = lm->forward_hidden(s.embeds, s.attention_mask, s.position_ids, nullptr, out.packed_lengths);
  out.attention_mask = s.attention_mask;
  if (labels.defined()) out.labels = s.labels;
  if (!in.compute_logits) {
    out.hidden = hidden;
    return out;
  }
  out.logits = lm->logits(hidden);
  if (labels.defined() && in.compute_loss) out.loss = causal_lm_loss(out.logits, s.labels);
  return out;
}

Spliced pack_rows(const Spliced& padded, std::vector<int64_t>& lengths) {
  const auto mask = padded.attention_mask.to(torch::kBool);
  const auto counts = mask.sum(1).to(torch::kCPU);
  lengths.clear();
  for (int64_t i = 0; i < counts.size(0); ++i)
    if (counts[i].item<int64_t>() > 0) lengths.push_back(counts[i].item<int64_t>());
  const auto idx = mask.reshape({-1}).nonzero().reshape({-1});
  Spliced out;
  out.embeds = padded.embeds.reshape({-1, padded.embeds.size(-1)}).index_select(0, idx).unsqueeze(0);
  out.position_ids = padded.position_ids.reshape({-1}).index_select(0, idx).unsqueeze(0);
  out.attention_mask = torch::ones_like(out.position_ids);
  if (padded.labels.defined()) {
    out.labels = padded.labels.reshape({-1}).index_select(0, idx).unsqueeze(0).clone();
    int64_t start = 0;
    for (const int64_t n : lengths) {
      out.labels[0][start] = kIgnoreIndex;
      start += n;
    }
  }
  return out;
}

torch::Tensor causal_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t vocab = logits.size(-1);
  auto shift_logits = logits.slice(1, 0, -1).reshape({-1, vocab});
  auto shift_labels = labels.slice(1, 1).reshape({-1}).to(logits.device());
  return torch::nn::functional::cross_entropy(
      shift_logits, shift_labels, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex));
}

}  // namespace imp
