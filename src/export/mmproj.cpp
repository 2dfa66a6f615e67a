// The mmproj file for llama.cpp's multimodal tools; see imp/export/mmproj.h. Names and keys as llama.cpp's
// tools/mtmd (clip-impl.h) reads them and its legacy convert_image_encoder_to_gguf.py writes them for LLaVA.
#include "imp/export/mmproj.h"

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/export/ggml_quants.h"
#include "imp/image/image.h"
#include "imp/io/state_dict.h"
#include "imp/models/config.h"
#include "imp/models/imp_model.h"
#include "imp/models/tower_weights.h"

namespace imp::gguf {
namespace {

const std::string kTower = std::string(kImpTowerPrefix) + "vision_model.";

// Imp checkpoint name (after kTower, or under model.mm_projector.) -> llama.cpp name; "" = not written.
std::string mmproj_name(const std::string& hf, int64_t layers) {
  if (hf.rfind("model.mm_projector.", 0) == 0) return "mm." + hf.substr(19);  // "0.weight" -> mm.0.weight
  if (hf.rfind(kTower, 0) != 0) return "";
  const std::string n = hf.substr(kTower.size());
  if (n == "embeddings.patch_embedding.weight") return "v.patch_embd.weight";
  if (n == "embeddings.patch_embedding.bias") return "v.patch_embd.bias";
  if (n == "embeddings.position_embedding.weight") return "v.position_embd.weight";
  const std::string layers_prefix = "encoder.layers.";
  if (n.rfind(layers_prefix, 0) != 0) return "";  // post_layernorm, head: Imp does not use them
  const auto dot = n.find('.', layers_prefix.size());
  const std::string index = n.substr(layers_prefix.size(), dot - layers_prefix.size());
  if (dot == std::string::npos || index.empty() || index.size() > 6 ||
      index.find_first_not_of("0123456789") != std::string::npos)
    return "";  // not a layer tensor: the count check below reports what is missing
  const int64_t i = std::stoll(index);
  if (i >= layers) return "";  // after mm_vision_select_layer
  static const std::pair<const char*, const char*> kLayer[] = {
      {"layer_norm1.", "ln1."},         {"layer_norm2.", "ln2."},         {"self_attn.q_proj.", "attn_q."},
      {"self_attn.k_proj.", "attn_k."}, {"self_attn.v_proj.", "attn_v."}, {"self_attn.out_proj.", "attn_out."},
      {"mlp.fc1.", "ffn_up."},          {"mlp.fc2.", "ffn_down."}};
  const std::string rest = n.substr(dot + 1);
  for (const auto& [from, to] : kLayer)
    if (rest.rfind(from, 0) == 0) return "v.blk." + std::to_string(i) + "." + to + rest.substr(std::string(from).size());
  return "";
}

}  // namespace

MmprojReport build_mmproj(Writer& w, const std::string& model, TensorType type, FileType file_type) {
  const ModelConfig mc = ModelConfig::load(model);
  IMP_CHECK_KIND(mc.kind == ModelKind::multimodal, ErrorKind::usage, model,
                 ": --mmproj needs an Imp (multimodal) model; this one has no vision tower and projector");
  IMP_CHECK_KIND(mc.mm_projector_type == "mlp2x_gelu", ErrorKind::usage, model, ": mm_projector_type ",
                 quote(mc.mm_projector_type), " has no llama.cpp mmproj layout (its \"mlp\" projector is mlp2x_gelu)");
  const VisionConfig& v = mc.vision;
  // llama.cpp swaps ffn_up/ffn_down of "mlp" towers whose ffn_down has n_embd inputs (old files named them
  // the other way round), so a tower with intermediate_size == hidden_size would run with fc1/fc2 swapped.
  IMP_CHECK_KIND(v.intermediate_size != v.hidden_size, ErrorKind::usage, model, ": a vision tower with ",
                 "intermediate_size == hidden_size (", v.hidden_size, ") is read with fc1/fc2 swapped by llama.cpp");
  IMP_CHECK_KIND(v.hidden_act.rfind("gelu", 0) == 0, ErrorKind::usage, model, ": vision hidden_act ",
                 quote(v.hidden_act), "; llama.cpp's mmproj runs GELU (tanh) only");
  const int64_t layers = mc.vision_layers_kept();

  StateDict sd = load_model_dir(model);
  if (!has_tower_weights(sd)) {  // the tower in its own SigLIP directory
    const std::string tower = vision_tower_dir(mc.mm_vision_tower, model);
    IMP_CHECK_KIND(is_directory(tower), ErrorKind::usage, model, ": no vision tower weights in the checkpoint and ",
                   "mm_vision_tower ", quote(mc.mm_vision_tower), " is not a local directory");
    add_tower_weights(sd, tower);
  }

  const image::ProcessorConfig pre;  // the normalisation imp (and Imp's SiglipImageProcessor) applies
  w.set("general.architecture", std::string("clip"));
  w.set("general.name", base_name(model) + " mmproj");
  w.set("general.file_type", static_cast<uint32_t>(file_type));
  if (is_quantized(type)) w.set("general.quantization_version", uint32_t{2});
  w.set("clip.has_vision_encoder", true);
  w.set("clip.has_llava_projector", true);
  w.set("clip.projector_type", std::string("mlp"));
  w.set("clip.use_gelu", true);
  w.set("clip.vision.image_size", static_cast<uint32_t>(v.image_size));
  w.set("clip.vision.patch_size", static_cast<uint32_t>(v.patch_size));
  w.set("clip.vision.embedding_length", static_cast<uint32_t>(v.hidden_size));
  w.set("clip.vision.feed_forward_length", static_cast<uint32_t>(v.intermediate_size));
  w.set("clip.vision.projection_dim", static_cast<uint32_t>(mc.text.hidden_size));
  w.set("clip.vision.attention.head_count", static_cast<uint32_t>(v.num_attention_heads));
  w.set("clip.vision.attention.layer_norm_epsilon", static_cast<float>(v.layer_norm_eps));
  w.set("clip.vision.block_count", static_cast<uint32_t>(layers));
  // The output of block `layers` (hidden_states[layers]) without post_layernorm: llama.cpp's LLaVA graph runs
  // blocks 0..feature_layer-1 (without the key it would drop the last block written).
  w.set("clip.vision.feature_layer", std::vector<int32_t>{static_cast<int32_t>(layers)});
  w.set("clip.vision.image_mean", std::vector<float>(std::begin(pre.mean), std::end(pre.mean)));
  w.set("clip.vision.image_std", std::vector<float>(std::begin(pre.std), std::end(pre.std)));

  MmprojReport r;
  r.layers = layers;
  for (const auto& [name, t] : sd) {
    const std::string g = mmproj_name(name, layers);
    if (g.empty()) continue;
    IMP_CHECK(t.is_floating_point(), model, ": ", name, " is ", c10::toString(t.scalar_type()), ", not a float tensor");
    TensorType tt = t.dim() == 1 ? TensorType::F32 : row_type(type, t.size(-1));
    if (g == "v.patch_embd.weight" || g == "v.position_embd.weight") tt = type == TensorType::F16 ? type : TensorType::F32;
    const auto f = t.to(torch::kFloat32).contiguous();
    auto bytes = encode(f.data_ptr<float>(), static_cast<size_t>(f.numel()), tt);
    r.bytes += bytes.size();
    w.add_tensor(g, t.sizes().vec(), tt, std::move(bytes));
    ++r.tensors;
  }
  // Every tensor the graph needs: patch weight/bias and positions, 16 per block, 4 projector tensors.
  const size_t want = 3 + 16 * static_cast<size_t>(layers) + 4;
  IMP_CHECK(r.tensors == want, model, ": found ", r.tensors, " of the ", want,
            " vision tower / projector tensors an mmproj file needs (", layers, " tower layers, mlp2x_gelu)");
  return r;
}

}  // namespace imp::gguf
