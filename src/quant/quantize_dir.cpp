// `imp quantize`; see imp/quant/quantize_dir.h.
#include "imp/quant/quantize_dir.h"

#include <filesystem>
#include <unistd.h>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/strings.h"
#include "imp/io/state_dict.h"
#include "imp/models/config.h"
#include "imp/models/imp_model.h"
#include "imp/models/tower_weights.h"
#include "imp/quant/quantize.h"

namespace imp::quant {
namespace {

namespace fs = std::filesystem;

bool is_weight_file(const std::string& name) {
  return (name.rfind("model", 0) == 0 && name.find(".safetensors") != std::string::npos) ||
         name.rfind("pytorch_model", 0) == 0;
}

uint64_t bytes_of(const StateDict& sd) {
  uint64_t n = 0;
  for (const auto& [k, t] : sd) n += t.numel() * t.element_size();
  return n;
}

// Which quantizable part a checkpoint tensor belongs to.
enum class Part { none, decoder, vision, embedding };

Part part_of(const std::string& name, const torch::Tensor& t) {
  if (t.dim() != 2 || name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) return Part::none;
  if (starts_with(name, kQuantizedPrefix)) return Part::decoder;
  if (starts_with(name, std::string(kImpTowerPrefix) + "vision_model.encoder.layers.") ||
      starts_with(name, "model.mm_projector."))
    return Part::vision;
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return Part::embedding;
  return Part::none;
}

// A tower kept in the SigLIP directory mm_vision_tower names is folded into the output (under the Imp
// checkpoint's prefix, with its config as vision_tower_config), so the quantized directory is self-contained.
void fold_in_tower(const ModelConfig& mc, const std::string& model_dir, StateDict& sd, Json& cfg) {
  if (has_tower_weights(sd)) return;
  const std::string tower = vision_tower_dir(mc.mm_vision_tower, model_dir);
  IMP_CHECK_KIND(is_directory(tower), ErrorKind::usage, model_dir, ": the vision tower (mm_vision_tower '",
                 mc.mm_vision_tower, "') is not a local directory, so it cannot be quantized",
                 "\nhint: pass --no-vision to quantize the decoder only");
  add_tower_weights(sd, tower);
  const std::string tower_cfg = join_path(tower, "config.json");
  if (!cfg.contains("vision_tower_config") && path_exists(tower_cfg)) {
    const Json j = read_json_file(tower_cfg);
    cfg["vision_tower_config"] = j.contains("vision_config") ? j["vision_config"] : j;
  }
}

}  // namespace

QuantizeReport quantize_model_dir(const QuantizeOptions& options) {
  QuantizeOptions o = options;
  o.output = strip_trailing_slashes(o.output);  // "out/": the temp folder must sit beside it, not inside
  QuantConfig qc;
  qc.bits = o.bits;
  qc.group_size = o.group_size != 0 ? o.group_size : (o.bits == 8 ? -1 : 128);
  qc.embedding_bits = o.embedding_bits < 0 ? o.bits : o.embedding_bits;
  qc.validate("imp quantize");
  IMP_CHECK_KIND(is_directory(o.model), ErrorKind::io, "--model ", o.model, " is not a directory");
  IMP_CHECK_KIND(!o.output.empty() && !path_exists(o.output), ErrorKind::usage, "--output ", o.output,
                 " already exists\nhint: remove it or choose another directory (imp quantize never overwrites)");
  const ModelConfig mc = ModelConfig::load(o.model);
  IMP_CHECK_KIND(mc.kind != ModelKind::vision, ErrorKind::usage, o.model, " is a vision tower (model_type ",
                 mc.model_type, "); imp quantize quantizes the decoder of an Imp or decoder-only model");
  IMP_CHECK_KIND(!mc.raw.contains("quantization_config"), ErrorKind::usage, o.model,
                 " is already quantized (config.json has quantization_config)",
                 "\nhint: quantize the full-precision model instead");

  qc.vision = o.vision && mc.kind == ModelKind::multimodal;
  StateDict sd = load_model_dir(o.model);
  auto head = sd.find("lm_head.weight"), embed = sd.find("model.embed_tokens.weight");
  if (mc.text.tie_word_embeddings && head != sd.end() && embed != sd.end() && torch::equal(head->second, embed->second))
    sd.erase(head);  // a copy of the tied embedding (the loader drops it too)
  Json cfg = mc.raw;
  if (qc.vision) {
    fold_in_tower(mc, o.model, sd, cfg);
    for (const auto& prefix : unused_tower_prefixes(mc, kImpTowerPrefix))  // never loaded: dropped
      for (auto it = sd.lower_bound(prefix); it != sd.end() && starts_with(it->first, prefix);) it = sd.erase(it);
  }
  QuantizeReport r;
  r.bytes_before = bytes_of(sd);
  StateDict out;
  QuantConfig row8;  // int8, one scale per row
  row8.bits = 8;
  row8.group_size = -1;
  for (auto& [name, t] : sd) {
    Part part = part_of(name, t);
    if ((part == Part::vision && !qc.vision) || (part == Part::embedding && qc.embedding_bits == 0)) part = Part::none;
    if (part == Part::none) {
      out.emplace(name, t);
      continue;
    }
    IMP_CHECK_KIND(t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16 ||
                       t.scalar_type() == torch::kFloat16,
                   ErrorKind::usage, o.model, ": ", name, " is ", c10::toString(t.scalar_type()),
                   "; imp quantize reads float32, bfloat16 or float16 weights");
    QuantConfig lc = qc;
    if (part == Part::embedding && qc.embedding_bits == 8) lc = row8;
    if (part == Part::embedding && qc.embedding_bits == 4) {
      lc.bits = 4;
      lc.group_size = qc.bits == 4 ? qc.group_size : 128;
    }
    // Outside the decoder a group size that does not divide the input (SigLIP so400m's fc2: 4304) means int8 rows.
    const int64_t in = t.size(1);
    if (part != Part::decoder && (in % lc.group_len(in) != 0 || (lc.bits == 4 && in % 2 != 0))) {
      lc = row8;
      ++r.row_int8;
    }
    QuantizedWeight q = quantize_weight(t, lc, o.model + ": " + name);
    const std::string base = name.substr(0, name.size() - 7);
    const double range = t.abs().max().item<double>();
    const double err = (dequantize_weight(q, lc) - t.to(torch::kFloat32)).abs().max().item<double>();
    if (range > 0) r.max_rel_error = std::max(r.max_rel_error, err / range);
    out.emplace(base + ".qweight", q.qweight);
    out.emplace(base + ".scales", q.scales);
    if (q.zeros.defined()) out.emplace(base + ".zeros", q.zeros);
    ++r.layers;
    r.weights += t.numel();
  }
  IMP_CHECK_KIND(r.layers > 0, ErrorKind::usage, o.model, ": no decoder linear weights (", kQuantizedPrefix,
                 "*.weight) to quantize");
  r.bytes_after = bytes_of(out);

  cfg["quantization_config"] = qc.to_json();
  // A tower kept in another directory (mm_vision_tower) must still be found from the new location.
  const std::string tower = cfg.value("mm_vision_tower", std::string()), dir = vision_tower_dir(tower, o.model);
  if (dir != tower && is_directory(dir)) cfg["mm_vision_tower"] = fs::absolute(dir).lexically_normal().string();

  const std::string tmp = o.output + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, "--output: cannot create ", tmp, ": ", ec.message());
  try {
    for (const auto& entry : fs::directory_iterator(o.model)) {
      const std::string fname = entry.path().filename().string();
      if (!entry.is_regular_file() || fname == "config.json" || is_weight_file(fname)) continue;
      fs::copy_file(entry.path(), fs::path(tmp) / fname);
    }
    atomic_write(join_path(tmp, "config.json"), cfg.dump(2) + "\n");
    save_model_dir(tmp, out);
    fs::rename(tmp, o.output);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(str("imp quantize: writing ", o.output, ": ", e.what()), ErrorKind::io);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return r;
}

}  // namespace imp::quant
