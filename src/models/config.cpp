// config.json parsing for the supported model types; all defaults live here.
// Defaults are the HF config-class defaults (transformers PhiConfig / Qwen2Config / Phi3Config /
// SiglipVisionConfig); the size keys are required so a truncated config fails loudly.
#include "imp/models/config.h"

#include <sstream>

#include "imp/core/fs.h"

namespace imp {
namespace {

int64_t required_int(const Json& j, const char* key, const std::string& origin) {
  auto v = json_opt<int64_t>(j, key, origin);
  IMP_CHECK(v.has_value(), origin, ": required field '", key, "' is missing");
  IMP_CHECK(*v > 0, origin, ": field '", key, "' must be positive, got ", *v);
  return *v;
}

struct FamilyDefaults {
  std::string hidden_act;
  double norm_eps, rope_theta, partial_rotary_factor;
  int64_t max_position_embeddings;
  std::optional<int64_t> bos, eos, pad;
};

FamilyDefaults family_defaults(Arch arch) {
  switch (arch) {
    case Arch::phi2: return {"gelu_new", 1e-5, 10000.0, 0.5, 2048, 1, 2, std::nullopt};
    case Arch::qwen2: return {"silu", 1e-6, 10000.0, 1.0, 32768, std::nullopt, std::nullopt, std::nullopt};
    case Arch::phi3: return {"silu", 1e-5, 10000.0, 1.0, 4096, 1, 32000, 32000};
  }
  return {};
}

RopeScaling parse_rope_scaling(const Json& j, int64_t head_dim, const std::string& origin) {
  RopeScaling rs;
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return rs;
  IMP_CHECK(it->is_object(), origin, ": rope_scaling must be an object or null");
  rs.type = json_or<std::string>(*it, "type", json_or<std::string>(*it, "rope_type", "", origin), origin);
  IMP_CHECK(rs.type == "su" || rs.type == "longrope" || rs.type == "yarn", origin, ": rope_scaling type '",
            rs.type, "' is not supported; expected su, longrope or yarn (Phi-3)");
  rs.short_factor = json_or<std::vector<double>>(*it, "short_factor", {}, origin);
  rs.long_factor = json_or<std::vector<double>>(*it, "long_factor", {}, origin);
  const size_t half = static_cast<size_t>(head_dim / 2);
  IMP_CHECK(rs.short_factor.size() == half && rs.long_factor.size() == half, origin,
            ": rope_scaling short_factor/long_factor need head_dim/2 = ", half, " values, got ",
            rs.short_factor.size(), "/", rs.long_factor.size());
  return rs;
}

}  // namespace

std::string arch_name(Arch a) {
  switch (a) {
    case Arch::phi2: return "phi2";
    case Arch::qwen2: return "qwen2";
    case Arch::phi3: return "phi3";
  }
  return "?";
}

TextConfig TextConfig::from_json(const Json& j, Arch arch, const std::string& origin) {
  const FamilyDefaults d = family_defaults(arch);
  TextConfig c;
  c.arch = arch;
  c.vocab_size = required_int(j, "vocab_size", origin);
  c.hidden_size = required_int(j, "hidden_size", origin);
  c.intermediate_size = required_int(j, "intermediate_size", origin);
  c.num_hidden_layers = required_int(j, "num_hidden_layers", origin);
  c.num_attention_heads = required_int(j, "num_attention_heads", origin);
  c.num_key_value_heads = json_or<int64_t>(j, "num_key_value_heads", c.num_attention_heads, origin);
  IMP_CHECK(c.hidden_size % c.num_attention_heads == 0, origin, ": hidden_size ", c.hidden_size,
            " is not a multiple of num_attention_heads ", c.num_attention_heads);
  IMP_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0, origin,
            ": num_attention_heads ", c.num_attention_heads, " is not a multiple of num_key_value_heads ",
            c.num_key_value_heads);
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.partial_rotary_factor = json_or<double>(j, "partial_rotary_factor", d.partial_rotary_factor, origin);
  IMP_CHECK(c.partial_rotary_factor > 0 && c.partial_rotary_factor <= 1, origin, ": partial_rotary_factor ",
            c.partial_rotary_factor, " must be in (0, 1]");
  c.rotary_dim = static_cast<int64_t>(c.head_dim * c.partial_rotary_factor);  // int() truncation as HF
  IMP_CHECK(c.rotary_dim > 0 && c.rotary_dim % 2 == 0 && c.rotary_dim <= c.head_dim, origin,
            ": rotary dim ", c.rotary_dim, " (head_dim * partial_rotary_factor) must be even and in (0, head_dim]");
  c.rope_theta = json_or<double>(j, "rope_theta", d.rope_theta, origin);
  c.norm_eps = json_or<double>(j, arch == Arch::phi2 ? "layer_norm_eps" : "rms_norm_eps", d.norm_eps, origin);
  c.hidden_act = json_or<std::string>(j, "hidden_act", d.hidden_act, origin);
  const std::string want_act = arch == Arch::phi2 ? "gelu_new" : "silu";
  IMP_CHECK(c.hidden_act == want_act, origin, ": hidden_act '", c.hidden_act, "' is not supported for ",
            arch_name(arch), "; expected ", want_act);
  c.max_position_embeddings = json_or<int64_t>(j, "max_position_embeddings", d.max_position_embeddings, origin);
  c.original_max_position_embeddings =
      json_or<int64_t>(j, "original_max_position_embeddings", c.max_position_embeddings, origin);
  c.tie_word_embeddings = json_or<bool>(j, "tie_word_embeddings", false, origin);
  c.resid_pdrop = json_or<double>(j, "resid_pdrop", 0.0, origin);
  c.embd_pdrop = json_or<double>(j, "embd_pdrop", 0.0, origin);
  c.attention_dropout = json_or<double>(j, "attention_dropout", 0.0, origin);
  c.pad_token_id = j.contains("pad_token_id") ? json_opt<int64_t>(j, "pad_token_id", origin) : d.pad;
  c.bos_token_id = j.contains("bos_token_id") ? json_opt<int64_t>(j, "bos_token_id", origin) : d.bos;
  c.eos_token_ids = j.contains("eos_token_id") ? json_int_list(j, "eos_token_id", origin)
                                               : (d.eos ? std::vector<int64_t>{*d.eos} : std::vector<int64_t>{});
  if (arch == Arch::phi2) {
    IMP_CHECK(!json_or<bool>(j, "qk_layernorm", false, origin), origin,
              ": qk_layernorm true is not supported (no Phi-2/Imp checkpoint uses it)");
  }
  if (arch == Arch::phi3) {
    c.sliding_window = json_opt<int64_t>(j, "sliding_window", origin);
    c.rope_scaling = parse_rope_scaling(j, c.head_dim, origin);
  }
  if (arch == Arch::qwen2) {
    // Imp's Qwen1.5 sets use_sliding_window false; the windowed variant is not implemented.
    IMP_CHECK(!json_or<bool>(j, "use_sliding_window", false, origin), origin,
              ": use_sliding_window true is not supported for qwen2");
  }
  return c;
}

VisionConfig VisionConfig::from_json(const Json& j_in, const std::string& origin) {
  // A full SigLIP config nests the tower under vision_config.
  const Json& j = j_in.contains("vision_config") ? j_in.at("vision_config") : j_in;
  VisionConfig c;
  c.hidden_size = json_or<int64_t>(j, "hidden_size", c.hidden_size, origin);
  c.intermediate_size = json_or<int64_t>(j, "intermediate_size", c.intermediate_size, origin);
  c.num_hidden_layers = json_or<int64_t>(j, "num_hidden_layers", c.num_hidden_layers, origin);
  c.num_attention_heads = json_or<int64_t>(j, "num_attention_heads", c.num_attention_heads, origin);
  c.num_channels = json_or<int64_t>(j, "num_channels", c.num_channels, origin);
  c.image_size = json_or<int64_t>(j, "image_size", c.image_size, origin);
  c.patch_size = json_or<int64_t>(j, "patch_size", c.patch_size, origin);
  c.layer_norm_eps = json_or<double>(j, "layer_norm_eps", c.layer_norm_eps, origin);
  c.hidden_act = json_or<std::string>(j, "hidden_act", c.hidden_act, origin);
  IMP_CHECK(c.hidden_act == "gelu_pytorch_tanh", origin, ": vision hidden_act '", c.hidden_act,
            "' is not supported; SigLIP uses gelu_pytorch_tanh");
  for (const auto& [key, v] : {std::pair{"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
                               {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
                               {"num_channels", c.num_channels}, {"patch_size", c.patch_size}})
    IMP_CHECK(v > 0, origin, ": vision ", key, " must be positive, got ", v);
  IMP_CHECK(c.hidden_size % c.num_attention_heads == 0, origin, ": vision hidden_size ", c.hidden_size,
            " is not a multiple of num_attention_heads ", c.num_attention_heads);
  // Up to 2^20 patches a side keeps num_patches() within int64.
  IMP_CHECK(c.image_size >= c.patch_size && c.image_size / c.patch_size <= (int64_t{1} << 20), origin,
            ": vision image_size ", c.image_size, " must be at least patch_size ", c.patch_size,
            " and at most 2^20 patches a side");
  return c;
}

int64_t ModelConfig::vision_layers_kept() const {
  const int64_t n = vision.num_hidden_layers, s = mm_vision_select_layer;
  // Imp: `del layers[s+1:]`. Python's -1 would delete every layer (a latent bug of its default);
  // imp reads -1 as "all layers", which is what the LLaVA convention means by it.
  IMP_CHECK(s >= -n && s < n, "mm_vision_select_layer ", s, " is out of range for a ", n, "-layer vision tower");
  return s < 0 ? n + s + 1 : s + 1;
}

ModelConfig ModelConfig::from_json(const Json& j, const std::string& origin, const std::string& model_dir) {
  IMP_CHECK(j.is_object(), origin, ": expected a JSON object");
  ModelConfig c;
  c.raw = j;
  c.model_type = json_or<std::string>(j, "model_type", "", origin);
  const std::string& t = c.model_type;
  if (t == "imp" || t == "phi") {
    c.text = TextConfig::from_json(j, Arch::phi2, origin);
  } else if (t == "imp_qwen2" || t == "qwen2") {
    c.text = TextConfig::from_json(j, Arch::qwen2, origin);
  } else if (t == "imp_phi3" || t == "phi3") {
    c.text = TextConfig::from_json(j, Arch::phi3, origin);
  } else if (t == "siglip_vision_model" || t == "siglip") {
    c.kind = ModelKind::vision;
    c.vision = VisionConfig::from_json(j, origin);
    // A bare SigLIP tower is used as Imp uses it: features of the second-to-last layer.
    c.mm_vision_select_layer = -2;
    return c;
  } else {
    IMP_FAIL(origin, ": model_type '", t, "' is not supported; expected one of imp, imp_qwen2, imp_phi3 "
             "(Imp multimodal), phi, qwen2, phi3 (text only), siglip_vision_model, siglip");
  }
  if (t == "phi" || t == "qwen2" || t == "phi3") {
    c.kind = ModelKind::text;
    return c;
  }
  c.kind = ModelKind::multimodal;
  c.mm_vision_tower = json_or<std::string>(j, "mm_vision_tower", json_or<std::string>(j, "vision_tower", "", origin), origin);
  c.mm_projector_type = json_or<std::string>(j, "mm_projector_type", "linear", origin);  // ModelArguments default
  c.mm_vision_select_layer = json_or<int64_t>(j, "mm_vision_select_layer", -2, origin);
  c.mm_vision_select_feature = json_or<std::string>(j, "mm_vision_select_feature", "patch", origin);
  IMP_CHECK(c.mm_vision_select_feature == "patch", origin, ": mm_vision_select_feature '",
            c.mm_vision_select_feature, "' is not supported; SigLIP has no CLS token, use 'patch'");
  c.image_aspect_ratio = json_or<std::string>(j, "image_aspect_ratio", "square", origin);
  c.tokenizer_padding_side = json_or<std::string>(j, "tokenizer_padding_side", "right", origin);
  c.tokenizer_model_max_length = json_opt<int64_t>(j, "tokenizer_model_max_length", origin);
  IMP_CHECK(!json_or<bool>(j, "mm_use_im_start_end", false, origin), origin,
            ": mm_use_im_start_end true is not supported (Imp uses false)");

  // The vision config: nested in config.json (as released imp-v1-3b does), or in the directory
  // mm_vision_tower names, or the so400m defaults when it names the published SigLIP.
  if (j.contains("vision_tower_config")) {
    c.vision = VisionConfig::from_json(j.at("vision_tower_config"), origin + " (vision_tower_config)");
  } else {
    const std::string dir = vision_tower_dir(c.mm_vision_tower, model_dir);
    if (!c.mm_vision_tower.empty() && path_exists(join_path(dir, "config.json"))) {
      c.vision = VisionConfig::from_json(read_json_file(join_path(dir, "config.json"), json_limits::model_config), join_path(dir, "config.json"));
    } else {
      IMP_CHECK(c.mm_vision_tower.find("siglip-so400m-patch14-384") != std::string::npos, origin,
                ": cannot tell the vision tower's shape: mm_vision_tower '", c.mm_vision_tower,
                "' is neither a local SigLIP directory nor google/siglip-so400m-patch14-384",
                "\nhint: add a \"vision_tower_config\" object to config.json");
      c.vision = VisionConfig{};
    }
  }
  c.mm_hidden_size = json_or<int64_t>(j, "mm_hidden_size", c.vision.hidden_size, origin);
  IMP_CHECK(c.mm_hidden_size == c.vision.hidden_size, origin, ": mm_hidden_size ", c.mm_hidden_size,
            " differs from the vision tower's hidden_size ", c.vision.hidden_size);
  c.vision_layers_kept();  // validates mm_vision_select_layer
  return c;
}

std::string vision_tower_dir(const std::string& mm_vision_tower, const std::string& model_dir) {
  return mm_vision_tower.empty() ? std::string() : join_path(model_dir, mm_vision_tower);
}

ModelConfig ModelConfig::load(const std::string& model_dir) {
  const std::string path = join_path(model_dir, "config.json");
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, model_dir, ": no config.json; expected an HF model directory");
  return from_json(read_json_file(path, json_limits::model_config), path, model_dir);
}

std::string ModelConfig::summary() const {
  std::ostringstream s;
  s << "model_type " << model_type;
  if (kind != ModelKind::vision) {
    const auto& t = text;
    s << "\n  decoder " << arch_name(t.arch) << ": layers " << t.num_hidden_layers << ", hidden " << t.hidden_size
      << ", intermediate " << t.intermediate_size << ", heads " << t.num_attention_heads << "/"
      << t.num_key_value_heads << " (head_dim " << t.head_dim << ", rotary " << t.rotary_dim << "), vocab "
      << t.vocab_size << ", rope_theta " << t.rope_theta;
    if (t.tie_word_embeddings) s << ", lm_head tied to the embedding";
    if (t.sliding_window) s << ", sliding_window " << *t.sliding_window;
    if (!t.rope_scaling.type.empty()) s << ", rope_scaling " << t.rope_scaling.type;
  }
  if (kind != ModelKind::text) {
    const auto& v = vision;
    s << "\n  vision SigLIP: layers " << vision_layers_kept()
      << " of " << v.num_hidden_layers << ", hidden " << v.hidden_size << ", image " << v.image_size << "/"
      << v.patch_size << " -> " << v.num_patches() << " patches";
  }
  if (kind == ModelKind::multimodal) {
    s << "\n  projector " << mm_projector_type << " " << mm_hidden_size << " -> " << text.hidden_size
      << ", image_aspect_ratio " << image_aspect_ratio;
    if (tokenizer_model_max_length) s << ", tokenizer_model_max_length " << *tokenizer_model_max_length;
  }
  return s.str();
}

}  // namespace imp
