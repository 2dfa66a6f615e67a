// `imp export gguf`; see imp/export/export_gguf.h.
#include "imp/export/export_gguf.h"

#include <cstdio>
#include <filesystem>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/export/arch_map.h"
#include "imp/export/ggml_quants.h"
#include "imp/export/mmproj.h"
#include "imp/export/tokenizer_meta.h"
#include "imp/io/state_dict.h"

namespace imp::gguf {
namespace {

struct TypeInfo {
  TensorType tensor;
  FileType file;
};

TypeInfo parse_type(const std::string& s) {
  if (s == "f32") return {TensorType::F32, FileType::all_f32};
  if (s == "f16") return {TensorType::F16, FileType::mostly_f16};
  if (s == "q8_0") return {TensorType::Q8_0, FileType::mostly_q8_0};
  if (s == "q4_0") return {TensorType::Q4_0, FileType::mostly_q4_0};
  if (s == "q4_k") return {TensorType::Q4_K, FileType::mostly_q4_k_s};
  throw Error(str("--type ", quote(s), " is not supported; use f32, f16, q8_0, q4_0 or q4_k"), ErrorKind::usage);
}

bool has_prefix(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

ExportReport export_gguf(const ExportOptions& o) {
  const TypeInfo type = parse_type(o.type);
  IMP_CHECK_KIND(is_directory(o.model), ErrorKind::io, "--model ", o.model, " is not a directory");
  IMP_CHECK_KIND(!o.output.empty(), ErrorKind::usage, "--output is required");
  const ModelConfig mc = ModelConfig::load(o.model);
  IMP_CHECK_KIND(mc.kind != ModelKind::vision, ErrorKind::usage, o.model,
                 " is a vision tower; imp export gguf writes the decoder of an Imp or decoder-only model");
  IMP_CHECK_KIND(!mc.raw.contains("quantization_config"), ErrorKind::usage, o.model,
                 " is quantized by imp quantize; export the full-precision directory (GGUF has its own q8_0/q4_0)");
  const TextConfig& c = mc.text;
  IMP_CHECK_KIND(c.rope_scaling.long_factor.empty(), ErrorKind::usage, o.model, ": rope_scaling ",
                 quote(c.rope_scaling.type), " (long-context factors) is not exported yet");
  const ArchMap& map = arch_map(c.arch);

  ExportReport r;
  Writer mw;  // --mmproj: built first, so that its refusals come before any work
  if (!o.mmproj.empty()) {
    IMP_CHECK_KIND(o.mmproj != o.output, ErrorKind::usage, "--mmproj and --output name the same file ", o.output);
    const MmprojReport m = build_mmproj(mw, o.model, type.tensor, type.file);
    r.mmproj_tensors = m.tensors, r.mmproj_bytes = m.bytes, r.mmproj_layers = m.layers;
  }
  Writer w;
  w.set("general.architecture", std::string(map.arch));
  w.set("general.name", base_name(o.model));
  w.set("general.file_type", static_cast<uint32_t>(type.file));
  if (is_quantized(type.tensor)) w.set("general.quantization_version", uint32_t{2});
  map.hparams(w, c);
  // An Imp phi2 model ends its answers with the "</s>" Imp's recipe adds to the tokenizer (imp-reference 4.4).
  add_tokenizer(w, o.model, c, mc.kind == ModelKind::multimodal && c.arch == Arch::phi2 ? "</s>" : "");

  r.arch = map.arch;
  const StateDict sd = load_model_dir(o.model);
  for (const auto& [name, t] : sd) {
    const std::string g = gguf_tensor_name(map, name);
    if (g.empty()) {
      IMP_CHECK(has_prefix(name, "model.vision_tower.") || has_prefix(name, "model.mm_projector."), o.model,
                ": tensor ", quote(name), " has no GGUF name for ", map.arch);
      ++r.skipped;
      continue;
    }
    if (c.tie_word_embeddings && name == "lm_head.weight") continue;  // llama.cpp uses token_embd
    IMP_CHECK(t.is_floating_point() && (t.dim() == 1 || t.dim() == 2), o.model, ": ", name,
              " must be a 1-d or 2-d float tensor, got ", c10::toString(t.scalar_type()), " ", t.sizes());
    const TensorType tt = t.dim() == 1 ? TensorType::F32 : row_type(type.tensor, t.size(-1));
    const auto f = t.to(torch::kFloat32).contiguous();
    auto bytes = encode(f.data_ptr<float>(), static_cast<size_t>(f.numel()), tt);
    r.bytes += bytes.size();
    w.add_tensor(g, t.sizes().vec(), tt, std::move(bytes));
    ++r.tensors;
  }
  if (!o.mmproj.empty()) mw.write(o.mmproj);
  try {
    w.write(o.output);
  } catch (...) {
    if (!o.mmproj.empty()) std::remove(o.mmproj.c_str());  // both files or neither
    throw;
  }
  return r;
}

}  // namespace imp::gguf
