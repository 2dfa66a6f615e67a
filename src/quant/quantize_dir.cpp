// `imp quantize`; see imp/quant/quantize_dir.h.
#include "imp/quant/quantize_dir.h"

#include <filesystem>
#include <unistd.h>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/io/state_dict.h"
#include "imp/models/config.h"
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

}  // namespace

QuantizeReport quantize_model_dir(const QuantizeOptions& options) {
  QuantizeOptions o = options;
  o.output = strip_trailing_slashes(o.output);  // "out/": the temp folder must sit beside it, not inside
  QuantConfig qc;
  qc.bits = o.bits;
  qc.group_size = o.group_size != 0 ? o.group_size : (o.bits == 8 ? -1 : 128);
  qc.validate("imp quantize");
  IMP_CHECK_KIND(is_directory(o.model), ErrorKind::io, "--model ", o.model, " is not a directory");
  IMP_CHECK_KIND(!o.output.empty() && !path_exists(o.output), ErrorKind::usage, "--output ", o.output,
                 " already exists\nhint: remove it or choose another directory (imp quantize never overwrites)");
  const std::string cfg_path = join_path(o.model, "config.json");
  const ModelConfig mc = ModelConfig::load(o.model);
  IMP_CHECK_KIND(mc.kind != ModelKind::vision, ErrorKind::usage, o.model, " is a vision tower (model_type ",
                 mc.model_type, "); imp quantize quantizes the decoder of an Imp or decoder-only model");
  IMP_CHECK_KIND(!mc.raw.contains("quantization_config"), ErrorKind::usage, o.model,
                 " is already quantized (config.json has quantization_config)",
                 "\nhint: quantize the full-precision model instead");

  StateDict sd = load_model_dir(o.model);
  QuantizeReport r;
  r.bytes_before = bytes_of(sd);
  StateDict out;
  for (auto& [name, t] : sd) {
    const bool target = name.rfind(kQuantizedPrefix, 0) == 0 && t.dim() == 2 && name.size() > 7 &&
                        name.compare(name.size() - 7, 7, ".weight") == 0;
    if (!target) {
      out.emplace(name, t);
      continue;
    }
    IMP_CHECK_KIND(t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kBFloat16 ||
                       t.scalar_type() == torch::kFloat16,
                   ErrorKind::usage, o.model, ": ", name, " is ", c10::toString(t.scalar_type()),
                   "; imp quantize reads float32, bfloat16 or float16 weights");
    QuantizedWeight q = quantize_weight(t, qc, o.model + ": " + name);
    const std::string base = name.substr(0, name.size() - 7);
    const double range = t.abs().max().item<double>();
    const double err = (dequantize_weight(q, qc) - t.to(torch::kFloat32)).abs().max().item<double>();
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

  Json cfg = mc.raw;
  cfg["quantization_config"] = qc.to_json();
  // A tower kept in another directory (mm_vision_tower) must still be found from the new location.
  const std::string tower = cfg.value("mm_vision_tower", std::string());
  if (!tower.empty() && tower[0] != '/' && is_directory(join_path(o.model, tower)))
    cfg["mm_vision_tower"] = fs::absolute(join_path(o.model, tower)).lexically_normal().string();

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
