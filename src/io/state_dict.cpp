// StateDict I/O over the torch-free safetensors layer, and strict loading into modules.
#include "imp/io/state_dict.h"

#include <algorithm>
#include <cstring>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/mapped_file.h"
#include "imp/io/safetensors.h"
#include "imp/io/torch_pickle.h"

namespace imp {
namespace {

torch::ScalarType to_torch(st::DType d, const std::string& name, const std::string& origin) {
  switch (d) {
    case st::DType::BOOL: return torch::kBool;
    case st::DType::U8: return torch::kUInt8;
    case st::DType::I8: return torch::kInt8;
    case st::DType::I16: return torch::kInt16;
    case st::DType::I32: return torch::kInt32;
    case st::DType::I64: return torch::kInt64;
    case st::DType::F16: return torch::kFloat16;
    case st::DType::BF16: return torch::kBFloat16;
    case st::DType::F32: return torch::kFloat32;
    case st::DType::F64: return torch::kFloat64;
    default:
      IMP_FAIL(origin, ": tensor '", name, "' has dtype ", st::dtype_name(d),
               ", which LibTorch cannot hold; convert the checkpoint to F32/F16/BF16");
  }
}

st::DType from_torch(torch::ScalarType t, const std::string& name) {
  switch (t) {
    case torch::kBool: return st::DType::BOOL;
    case torch::kUInt8: return st::DType::U8;
    case torch::kInt8: return st::DType::I8;
    case torch::kInt16: return st::DType::I16;
    case torch::kInt32: return st::DType::I32;
    case torch::kInt64: return st::DType::I64;
    case torch::kFloat16: return st::DType::F16;
    case torch::kBFloat16: return st::DType::BF16;
    case torch::kFloat32: return st::DType::F32;
    case torch::kFloat64: return st::DType::F64;
    default: IMP_FAIL("cannot save tensor '", name, "' of dtype ", c10::toString(t), " as safetensors");
  }
}

// Copies (never aliases) the bytes: offsets in a safetensors file are only byte-aligned, and the
// mapping goes away when the File is closed.
torch::Tensor copy_tensor(const st::File& f, const st::TensorInfo& info) {
  auto t = torch::empty(info.shape, torch::TensorOptions().dtype(to_torch(info.dtype, info.name, f.path())));
  if (info.nbytes() > 0) std::memcpy(t.data_ptr(), f.data(info), info.nbytes());
  return t;
}

void add_tensors(const pkl::File& f, StateDict& sd) {
  for (const auto& r : f.checkpoint.tensors) {
    auto t = torch::empty(r.shape, torch::TensorOptions().dtype(to_torch(r.dtype, r.name, f.map.path())));
    pkl::read_tensor(f.checkpoint, r, static_cast<uint8_t*>(t.data_ptr()));
    sd.insert_or_assign(r.name, t);
  }
}

std::vector<st::TensorView> views_of(const StateDict& sd, std::vector<torch::Tensor>& keep) {
  std::vector<st::TensorView> views;
  views.reserve(sd.size());
  for (const auto& [name, tensor] : sd) {
    keep.push_back(tensor.detach().to(torch::kCPU).contiguous());
    const auto& t = keep.back();
    views.push_back({name, from_torch(t.scalar_type(), name), t.sizes().vec(), t.data_ptr(),
                     static_cast<uint64_t>(t.numel()) * t.element_size()});
  }
  return views;
}

bool has_prefix(const std::string& s, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return s.rfind(p, 0) == 0; });
}

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

StateDict load_safetensors(const std::string& file) {
  auto f = st::File::open(file);
  StateDict sd;
  for (const auto& info : f.header().tensors) sd.emplace(info.name, copy_tensor(f, info));
  return sd;
}

StateDict load_torch_pickle(const std::string& file) {
  StateDict sd;
  add_tensors(pkl::File::open(file), sd);
  return sd;
}

StateDict load_weights_file(const std::string& file) {
  const MappedFile m = MappedFile::open(file);
  return pkl::looks_like_torch_save(m.data(), m.size()) ? load_torch_pickle(file) : load_safetensors(file);
}

StateDict load_model_dir(const std::string& dir) {
  IMP_CHECK_KIND(is_directory(dir), ErrorKind::io, dir, ": not a directory (expected an HF model folder)");
  if (pkl::only_torch_save_in(dir)) {
    StateDict sd;
    for (const auto& f : pkl::open_dir(dir)) add_tensors(f, sd);
    return sd;
  }
  auto files = st::open_dir(dir);
  StateDict sd;
  for (const auto& [name, where] : files.by_name)
    sd.emplace(name, copy_tensor(files.files[where.first], *where.second));
  return sd;
}

void save_safetensors(const std::string& file, const StateDict& sd) {
  std::vector<torch::Tensor> keep;
  st::write_file(file, views_of(sd, keep));
}

void save_model_dir(const std::string& dir, const StateDict& sd, uint64_t max_shard_bytes) {
  std::vector<torch::Tensor> keep;
  st::write_sharded(dir, views_of(sd, keep), max_shard_bytes);
}

StateDict rename_prefix(const StateDict& sd, const std::string& from, const std::string& to) {
  StateDict out;
  for (const auto& [name, t] : sd)
    out.emplace(name.rfind(from, 0) == 0 ? to + name.substr(from.size()) : name, t);
  return out;
}

std::string LoadReport::describe(size_t max_items) const {
  std::string out;
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    out += "\n  " + std::to_string(v.size()) + " " + what + ":";
    for (size_t i = 0; i < v.size() && i < max_items; ++i) out += "\n    " + v[i];
    if (v.size() > max_items) out += "\n    ... and " + std::to_string(v.size() - max_items) + " more";
  };
  list("missing from the checkpoint", missing);
  list("unexpected in the checkpoint", unexpected);
  list("with the wrong shape", mismatched);
  return out;
}

StateDict module_state(const torch::nn::Module& module) {
  StateDict out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace(b.key(), b.value());
  return out;
}

LoadReport load_into(torch::nn::Module& module, const StateDict& sd, const std::string& origin,
                     const LoadOptions& options) {
  LoadReport report;
  StateDict targets = module_state(module);
  torch::NoGradGuard no_grad;
  for (const auto& [name, src] : sd) {
    auto it = targets.find(name);
    if (it == targets.end()) {
      if (!has_prefix(name, options.ignore_prefixes)) report.unexpected.push_back(name);
      continue;
    }
    auto& dst = it->second;
    if (!dst.sizes().equals(src.sizes())) {
      report.mismatched.push_back(name + ": checkpoint " + shape_str(src.sizes()) + " vs model " +
                                  shape_str(dst.sizes()));
      continue;
    }
    dst.copy_(src);
    ++report.loaded;
  }
  for (const auto& [name, t] : targets) {
    if (!sd.count(name) && !has_prefix(name, options.optional_prefixes)) report.missing.push_back(name);
  }
  if (options.strict && !report.ok()) {
    IMP_FAIL(origin, ": checkpoint does not match the model built from its config.json:", report.describe(),
             "\nhint: check that config.json belongs to these weights (model_type, sizes, layer count)");
  }
  return report;
}

}  // namespace imp
