// QuantKernel and the attach/prepare walk over a model; see imp/quant/quant_linear.h.
#include "imp/quant/quant_linear.h"

#include "imp/core/compat.h"
#include "imp/core/error.h"

namespace imp::quant {

const char* kernel_path_name(KernelPath p) {
  switch (p) {
    case KernelPath::int8_mm: return "int8_mm";
    case KernelPath::int4_mm: return "int4_mm";
    case KernelPath::dequantize: return "dequantize";
  }
  return "?";
}

QuantKernel::QuantKernel(const QuantConfig& c, int64_t out, int64_t in, torch::Device device, bool native)
    : c_(c), in_(in), native_(native) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  w_.qweight = c.bits == 8 ? torch::zeros({out, in}, f32.dtype(torch::kInt8))
                           : torch::zeros({out, in / 2}, f32.dtype(torch::kUInt8));
  w_.scales = torch::ones({out, c.groups(in)}, f32);
  if (c.bits == 4) w_.zeros = torch::zeros({out, c.groups(in)}, f32);
}

std::vector<std::pair<std::string, torch::Tensor>> QuantKernel::buffers() {
  std::vector<std::pair<std::string, torch::Tensor>> out = {{"qweight", w_.qweight}, {"scales", w_.scales}};
  if (w_.zeros.defined()) out.emplace_back("zeros", w_.zeros);
  return out;
}

void QuantKernel::check() const {
  IMP_CHECK(torch::isfinite(w_.scales).all().item<bool>() && (!w_.zeros.defined() || torch::isfinite(w_.zeros).all().item<bool>()),
            "non-finite scales or zeros");
}

void QuantKernel::prepare() {
  check();
  const bool cpu = w_.qweight.device().is_cpu() && native_ && compat::kHasQuantCpuKernels;
  path_ = KernelPath::dequantize;
  if (cpu && c_.bits == 8 && c_.group_size == -1) {
    path_ = KernelPath::int8_mm;
    scale_src_ = w_.scales.reshape({-1});
  } else if (cpu && c_.bits == 4 && w_.qweight.size(0) % 16 == 0) {  // the CPU int4 packing needs N % 16 == 0
    path_ = KernelPath::int4_mm;
    packed_ = compat::int4pack_cpu(unpack_uint4(w_.qweight));
    scale_src_ = torch::stack({w_.scales, w_.zeros}, -1).transpose(0, 1).contiguous();  // [groups, out, 2]
  }
  scale_cast_ = torch::Tensor();
}

const torch::Tensor& QuantKernel::scales_as(torch::ScalarType t) {
  if (!scale_cast_.defined() || scale_cast_.scalar_type() != t) scale_cast_ = scale_src_.to(t);
  return scale_cast_;
}

torch::Tensor QuantKernel::matmul(const torch::Tensor& x) {
  const auto dtype = x.scalar_type();
  const bool kernel_dtype = dtype == torch::kFloat32 || dtype == torch::kBFloat16;
  if (path_ == KernelPath::dequantize || !kernel_dtype || x.requires_grad())
    return torch::linear(x, dequantize_weight(w_, c_).to(dtype));
  // LibTorch's CPU kernels are fast for bf16 activations only (fp32: 8-30x slower than bf16 on the machines of
  // bench/README.md "Quantization"), so fp32 inputs are rounded to bf16 here and the result returned in fp32.
  const auto run = dtype == torch::kFloat32 ? torch::kBFloat16 : dtype;
  auto sizes = x.sizes().vec();
  auto x2 = x.reshape({-1, in_}).to(run).contiguous();
  auto y = path_ == KernelPath::int8_mm ? compat::int8pack_mm(x2, w_.qweight, scales_as(run))
                                        : compat::int4pack_mm_cpu(x2, packed_, c_.group_size, scales_as(run));
  sizes.back() = y.size(-1);
  return y.reshape(sizes).to(dtype);
}

torch::Tensor QuantKernel::rows(const torch::Tensor& ids, torch::ScalarType dtype) {
  auto flat = ids.reshape({-1}).to(w_.qweight.device());
  QuantizedWeight sub{w_.qweight.index_select(0, flat), w_.scales.index_select(0, flat),
                      w_.zeros.defined() ? w_.zeros.index_select(0, flat) : torch::Tensor()};
  auto sizes = ids.sizes().vec();
  sizes.push_back(in_);
  return dequantize_weight(sub, c_).to(dtype).reshape(sizes);
}

namespace {

const torch::Tensor& stored(const StateDict& sd, const std::string& name, const std::string& origin) {
  auto it = sd.find(name);
  IMP_CHECK(it != sd.end(), origin, ": quantized layer tensor '", name, "' is missing",
            "\nhint: the directory is incomplete; quantize the full-precision model again");
  return it->second;
}

void check_stored(const torch::Tensor& t, const std::string& name, torch::ScalarType want,
                  std::vector<int64_t> shape, const std::string& origin) {
  IMP_CHECK(t.scalar_type() == want && t.sizes() == c10::IntArrayRef(shape), origin, ": '", name, "' must be a ",
            c10::toString(want), " tensor of shape ", c10::IntArrayRef(shape), " (quantized layout v", kFormatVersion,
            "), got ", c10::toString(t.scalar_type()), " ", t.sizes(),
            "\nhint: the file is corrupt or not written by `imp quantize`; quantize the full-precision model again");
}

}  // namespace

QuantConfig stored_layer_config(const StateDict& sd, const std::string& name, int64_t out, int64_t in,
                                const std::string& origin) {
  const auto& q = stored(sd, name + ".qweight", origin);
  const auto& s = stored(sd, name + ".scales", origin);
  QuantConfig c;
  c.bits = q.scalar_type() == torch::kInt8 ? 8 : 4;
  check_stored(q, name + ".qweight", c.bits == 8 ? torch::kInt8 : torch::kUInt8, {out, c.bits == 8 ? in : in / 2},
               origin);
  const int64_t groups = s.dim() == 2 ? s.size(1) : 0;
  IMP_CHECK(groups > 0 && in % groups == 0, origin, ": '", name, ".scales' must be F32 [", out,
            ", groups] with groups dividing ", in, ", got ", c10::toString(s.scalar_type()), " ", s.sizes(),
            "\nhint: the file is corrupt; quantize the full-precision model again");
  c.group_size = groups == 1 && c.bits == 8 ? -1 : in / groups;
  check_stored(s, name + ".scales", torch::kFloat32, {out, groups}, origin);
  try {
    c.validate(name);
  } catch (const Error& e) {
    IMP_FAIL(origin, ": '", name, ".scales' gives an unsupported layout: ", e.what());
  }
  if (c.bits == 4)
    check_stored(stored(sd, name + ".zeros", origin), name + ".zeros (the shape of " + name + ".scales)",
                 torch::kFloat32, {out, groups}, origin);
  else
    IMP_CHECK(!sd.count(name + ".zeros"), origin, ": '", name, ".zeros' beside an 8-bit (I8) '", name, ".qweight'");
  return c;
}

size_t attach_quantized(torch::nn::Module& root, const StateDict& sd, const std::string& origin, torch::Device device) {
  size_t n = 0;
  for (auto& item : root.named_modules("", /*include_self=*/false)) {
    auto* lin = dynamic_cast<nn::LinearImpl*>(item.value().get());
    const std::string& name = item.key();
    if (!lin || !sd.count(name + ".qweight")) continue;
    IMP_CHECK(!sd.count(name + ".weight"), origin, ": layer ", name, " has both 'weight' and 'qweight'");
    const auto in = lin->weight.size(1), out = lin->weight.size(0);
    const QuantConfig c = stored_layer_config(sd, name, out, in, origin);
    lin->set_weight_kernel(std::make_shared<QuantKernel>(c, out, in, device));
    ++n;
  }
  IMP_CHECK(n > 0, origin, ": config.json has quantization_config but no layer has a '.qweight' tensor");
  return n;
}

std::string prepare_quantized(torch::nn::Module& root, const std::string& origin) {
  std::string path;
  for (auto& item : root.named_modules("", false)) {
    auto* lin = dynamic_cast<nn::LinearImpl*>(item.value().get());
    auto* k = lin ? dynamic_cast<QuantKernel*>(lin->weight_kernel()) : nullptr;
    if (!k) continue;
    try {
      k->prepare();
    } catch (const std::exception& e) {
      IMP_FAIL(origin, ": quantized layer ", item.key(), ": ", e.what(),
               "\nhint: the file is corrupt; quantize the full-precision model again");
    }
    path = kernel_path_name(k->path());
  }
  return path;
}

}  // namespace imp::quant
