// `imp forward`: one forward pass of a model directory on tensors read from a safetensors file.
// The input/output tensor names are a contract other tools rely on (README "imp forward").
#include <iostream>
#include <set>

#include "imp/cli/commands.h"
#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/models/lora.h"

namespace imp::cli {
namespace {

torch::Tensor take(const StateDict& in, const std::string& name, const std::string& origin, bool integer,
                   int64_t dims) {
  auto it = in.find(name);
  if (it == in.end()) return {};
  const auto& t = it->second;
  IMP_CHECK(t.dim() == dims, origin, ": '", name, "' must have ", dims, " dimensions, got shape ", t.sizes());
  if (integer) {
    IMP_CHECK(!t.is_floating_point(), origin, ": '", name, "' must be an integer tensor (I64), got ",
              c10::toString(t.scalar_type()));
    return t.to(torch::kInt64);
  }
  IMP_CHECK(t.is_floating_point(), origin, ": '", name, "' must be a float tensor, got ", c10::toString(t.scalar_type()));
  return t;
}

}  // namespace

int run_forward(const ForwardOptions& o) {
  LoadSpec spec;  // flags first, so a typo fails before any file is read
  spec.dtype = parse_dtype(o.dtype);
  spec.device = parse_device(o.device);
  spec.attention = nn::parse_attention_impl(o.attn_implementation);
  check_dtype_supported(spec.dtype, spec.device);
  const StateDict in = load_safetensors(o.inputs);
  static const std::set<std::string> known = {"input_ids", "attention_mask", "pixel_values", "labels"};
  for (const auto& [name, t] : in)
    IMP_CHECK(known.count(name), o.inputs, ": unknown input tensor '", name,
              "'; expected input_ids, attention_mask, pixel_values, labels");

  ImpInputs x;
  x.input_ids = take(in, "input_ids", o.inputs, true, 2);
  x.attention_mask = take(in, "attention_mask", o.inputs, true, 2);
  x.labels = take(in, "labels", o.inputs, true, 2);
  x.pixel_values = take(in, "pixel_values", o.inputs, false, 4);
  for (const auto* name : {"attention_mask", "labels"}) {
    const auto& t = std::string(name) == "labels" ? x.labels : x.attention_mask;
    IMP_CHECK(!t.defined() || (x.input_ids.defined() && t.sizes() == x.input_ids.sizes()), o.inputs, ": '", name,
              "' must have the shape of input_ids");
  }

  auto model = ImpModel::from_pretrained(o.model, spec);
  IMP_CHECK_KIND(x.input_ids.defined() || (model->config().kind == ModelKind::vision && x.pixel_values.defined()),
                 ErrorKind::usage, o.inputs, ": needs 'input_ids' (or only 'pixel_values' for a SigLIP directory)");
  if (!o.lora.empty()) {
    load_lora_adapter(*model, o.lora);
    if (o.merge_lora) merge_lora(model->root());
  }
  model->root().eval();
  torch::NoGradGuard no_grad;
  ImpOutputs y = model->forward(x);

  StateDict out;
  auto put = [&](const char* name, const torch::Tensor& t, torch::ScalarType type) {
    if (t.defined()) out.emplace(name, t.detach().to(torch::kCPU, type).contiguous());
  };
  put("logits", y.logits, torch::kFloat32);
  put("loss", y.loss, torch::kFloat32);
  put("image_features", y.image_features, torch::kFloat32);
  put("image_embeds", y.image_embeds, torch::kFloat32);
  put("spliced_attention_mask", y.attention_mask, torch::kInt64);
  put("spliced_labels", y.labels, torch::kInt64);
  save_safetensors(o.output, out);
  std::cerr << "imp forward: wrote";
  for (const auto& [name, t] : out) std::cerr << " " << name << t.sizes();
  if (y.loss.defined()) std::cerr << "; loss " << y.loss.item<double>();
  std::cerr << "\n";
  return 0;
}

}  // namespace imp::cli
