// `imp bench forward`: forward and forward+backward time of an Imp-shaped model (real widths,
// reduced depth, random weights); `imp bench train`: one optimizer step of the same model as Imp trains
// it (LoRA / projector / full). bench/forward_bench.py and bench/train_bench.py time the same in Python
// PyTorch; bench/run_*_bench.sh run both and print the ratios.
#include <sys/resource.h>

#include <chrono>
#include <iomanip>
#include <iostream>

#include "imp/cli/commands.h"
#include "imp/core/build_info.h"
#include "imp/core/compat.h"
#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/proc_memory.h"
#include "imp/models/imp_model.h"
#include "imp/models/labelled_loss.h"
#include "imp/models/lora.h"
#include "imp/nn/autocast.h"
#include "imp/nn/layers.h"
#include "imp/train/flops.h"
#include "imp/train/optimizer.h"
#include "imp/train/train_model.h"

namespace imp::cli {
namespace {

// The released Imp decoder widths (imp-reference 1.4) at `layers` depth.
Json decoder_json(const std::string& arch, int layers) {
  if (arch == "phi2")
    return {{"model_type", "imp"}, {"vocab_size", 51200}, {"hidden_size", 2560}, {"intermediate_size", 10240},
            {"num_hidden_layers", layers}, {"num_attention_heads", 32}, {"partial_rotary_factor", 0.4},
            {"pad_token_id", 50256}};
  if (arch == "qwen2")
    return {{"model_type", "imp_qwen2"}, {"vocab_size", 151936}, {"hidden_size", 2048}, {"intermediate_size", 5504},
            {"num_hidden_layers", layers}, {"num_attention_heads", 16}, {"rope_theta", 1e6}};
  if (arch == "phi3")
    return {{"model_type", "imp_phi3"}, {"vocab_size", 32064}, {"hidden_size", 3072}, {"intermediate_size", 8192},
            {"num_hidden_layers", layers}, {"num_attention_heads", 32}, {"sliding_window", 2047}};
  throw Error("--arch must be phi2, qwen2 or phi3, got '" + arch + "'", ErrorKind::usage);
}

double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

double vm_hwm_mib() {
  const int64_t b = proc_status_bytes("VmHWM");
  return b < 0 ? -1 : static_cast<double>(b) / (1024.0 * 1024.0);
}

template <typename F>
double time_it(int warmup, int iters, const torch::Device& dev, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  if (dev.is_cuda()) torch::cuda::synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  if (dev.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
}

}  // namespace

// The Imp-shaped model of both benchmarks: released widths, `layers` decoder layers, so400m SigLIP cut to
// `vision_layers` layers, mlp2x_gelu projector, random weights.
std::unique_ptr<ImpModel> bench_model(const std::string& arch, int layers, int vision_layers) {
  torch::manual_seed(0);
  Json j = decoder_json(arch, layers);
  j["mm_projector_type"] = "mlp2x_gelu";
  j["mm_vision_select_layer"] = -2;
  j["vision_tower_config"] = {{"num_hidden_layers", vision_layers + 1}};  // so400m widths, one dropped
  return std::make_unique<ImpModel>(ModelConfig::from_json(j, "bench config"));
}

ImpInputs bench_inputs(ImpModel& model, int batch, int seq, bool image, const torch::Device& dev,
                       torch::ScalarType pixel_dtype) {
  const auto& t = model.config().text;
  ImpInputs in;
  in.input_ids = torch::randint(0, t.vocab_size, {batch, seq}, torch::TensorOptions().dtype(torch::kInt64));
  if (image) {
    in.input_ids.select(1, 1).fill_(kImageTokenIndex);
    const auto& v = model.config().vision;
    in.pixel_values = torch::randn({batch, 3, v.image_size, v.image_size}).to(dev, pixel_dtype);
  }
  in.input_ids = in.input_ids.to(dev);
  in.labels = in.input_ids.clone();
  return in;
}

// A length mix (bench/data/llava665k_mix.json): per sample its text length (the <image> placeholder counted
// as one token), labelled answer length (at the end) and whether it has an image.
struct MixSample {
  bool image = false;
  int64_t text = 0, answer = 0;
};

std::vector<MixSample> load_mix(const std::string& path) {
  const Json j = read_json_file(path);
  IMP_CHECK_KIND(j.is_object() && j.contains("samples") && j.at("samples").is_array() && !j.at("samples").empty(),
                 ErrorKind::usage, path, ": expected {\"samples\": [{\"image\", \"text_tokens\", \"answer_tokens\"}, ...]}");
  std::vector<MixSample> out;
  for (const auto& x : j.at("samples")) {
    MixSample m{x.at("image").get<bool>(), x.at("text_tokens").get<int64_t>(), x.at("answer_tokens").get<int64_t>()};
    IMP_CHECK_KIND(m.text >= 3 && m.answer >= 1 && m.answer <= m.text - 2, ErrorKind::usage, path,
                   ": need 1 <= answer_tokens <= text_tokens - 2, got ", x.dump());
    out.push_back(m);
  }
  return out;
}

// One right-padded micro-batch of mix samples: random ids, <image> at token 1 of image samples, labels on
// the answer only (train_bench.py's mix_micro_batch draws the same shapes).
ImpInputs mix_inputs(ImpModel& model, const std::vector<MixSample>& samples, const torch::Device& dev) {
  const auto& t = model.config().text;
  const auto& v = model.config().vision;
  int64_t longest = 0, images = 0;
  for (const auto& m : samples) longest = std::max(longest, m.text), images += m.image;
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const int64_t b = static_cast<int64_t>(samples.size());
  ImpInputs in;
  in.input_ids = torch::zeros({b, longest}, i64);
  in.attention_mask = torch::zeros({b, longest}, i64);
  in.labels = torch::full({b, longest}, kIgnoreIndex, i64);
  for (int64_t i = 0; i < b; ++i) {
    const auto& m = samples[i];
    auto ids = torch::randint(0, t.vocab_size, {m.text}, i64);
    in.labels[i].slice(0, m.text - m.answer, m.text).copy_(ids.slice(0, m.text - m.answer));
    if (m.image) ids[1] = kImageTokenIndex;
    in.input_ids[i].slice(0, 0, m.text).copy_(ids);
    in.attention_mask[i].slice(0, 0, m.text).fill_(1);
  }
  if (images) in.pixel_values = torch::randn({images, 3, v.image_size, v.image_size}).to(dev);
  in.input_ids = in.input_ids.to(dev);
  in.attention_mask = in.attention_mask.to(dev);
  in.labels = in.labels.to(dev);
  return in;
}

int run_bench_forward(const BenchForwardOptions& o) {
  IMP_CHECK_KIND(o.layers >= 1 && o.vision_layers >= 1 && o.batch >= 1 && o.seq >= 2 && o.iters >= 1,
                 ErrorKind::usage, "bench: --layers, --vision-layers, --batch, --iters must be >= 1 and --seq >= 2");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  auto model_ptr = bench_model(o.arch, o.layers, o.vision_layers);
  ImpModel& model = *model_ptr;
  const auto dev = parse_device(o.device);
  const auto dtype = parse_dtype(o.dtype);
  check_dtype_supported(dtype, dev);
  model.root().to(dev, dtype);
  model.set_attention_impl(nn::parse_attention_impl(o.attn_implementation));
  const ImpInputs in = bench_inputs(model, o.batch, o.seq, o.image, dev, dtype);
  const int64_t tokens = o.batch * (o.seq + (o.image ? model.config().vision.num_patches() - 1 : 0));

  model.root().eval();
  const double fwd = time_it(o.warmup, o.iters, dev, [&] {
    torch::NoGradGuard g;
    model.forward(in);
  });
  model.root().train();
  const double fwd_bwd = time_it(o.warmup, o.iters, dev, [&] {
    auto out = model.forward(in);
    out.loss.backward();
    model.root().zero_grad();
  });

  int64_t params = 0;
  for (const auto& p : model.root().parameters()) params += p.numel();
  if (o.json) {
    Json r = {{"impl", "imp"},       {"arch", o.arch},         {"layers", o.layers},    {"batch", o.batch},
              {"tokens", tokens},    {"dtype", o.dtype},       {"threads", torch::get_num_threads()},
              {"params", params},    {"forward_s", fwd},       {"forward_backward_s", fwd_bwd},
              {"forward_tokens_per_s", tokens / fwd},          {"train_tokens_per_s", tokens / fwd_bwd},
              {"peak_rss_mib", peak_rss_mib()},                {"torch", compat::torch_version()}};
    std::cout << r.dump() << "\n";
  } else {
    std::cout << std::fixed << std::setprecision(3) << "imp bench forward: " << o.arch << " x" << o.layers
              << " layers (+SigLIP x" << o.vision_layers << "), " << params / 1e6 << "M params, " << tokens
              << " tokens, " << o.dtype << ", " << torch::get_num_threads() << " threads\n"
              << "  forward           " << fwd << " s  (" << tokens / fwd << " tokens/s)\n"
              << "  forward+backward  " << fwd_bwd << " s  (" << tokens / fwd_bwd << " tokens/s)\n"
              << "  peak RSS          " << peak_rss_mib() << " MiB\n";
  }
  return 0;
}

int run_bench_train(const BenchTrainOptions& o) {
  IMP_CHECK_KIND(o.layers >= 1 && o.vision_layers >= 1 && o.batch >= 1 && o.seq >= 2 && o.iters >= 1 &&
                     o.grad_accum >= 1 && o.lora_r >= 1 && o.warmup >= 0,
                 ErrorKind::usage, "bench train: --layers, --vision-layers, --batch, --iters, --grad-accum, --lora-r "
                 "must be >= 1, --warmup >= 0 and --seq >= 2");
  IMP_CHECK_KIND(o.mode == "lora" || o.mode == "projector" || o.mode == "full", ErrorKind::usage,
                 "bench train: --mode must be lora, projector or full");
  IMP_CHECK_KIND(o.dtype == "float32" || o.dtype == "bfloat16", ErrorKind::usage,
                 "bench train: --dtype float32 (no autocast) or bfloat16 (bf16 autocast)");
  IMP_CHECK_KIND(o.base_dtype == "float32" || o.base_dtype == "bfloat16" || o.base_dtype == "float16",
                 ErrorKind::usage, "bench train: --base-dtype must be float32, bfloat16 or float16");
  IMP_CHECK_KIND(o.base_dtype == "float32" || o.dtype == "bfloat16", ErrorKind::usage,
                 "bench train: a half-precision --base-dtype needs --dtype bfloat16 (autocast), as training does");
  IMP_CHECK_KIND(o.logits_chunk >= 0, ErrorKind::usage, "bench train: --logits-chunk must be >= 0");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const auto dev = parse_device(o.device);
  auto model_ptr = bench_model(o.arch, o.layers, o.vision_layers);
  ImpModel& model = *model_ptr;
  model.set_attention_impl(nn::parse_attention_impl(o.attn_implementation));
  torch::nn::Module& root = model.root();
  for (auto& p : root.parameters()) p.set_requires_grad(false);
  if (o.mode == "lora") {
    for (const auto& path : lora_targets(root, train::find_all_linear_names(root),
                                         {"model.vision_tower.", "model.mm_projector."}))
      dynamic_cast<nn::LinearImpl*>(root.named_modules()[path].get())->add_lora(o.lora_r, o.lora_alpha, o.lora_dropout);
  }
  root.to(dev);
  std::vector<train::NamedParam> trainable;
  std::vector<torch::Tensor> params;
  for (auto& item : root.named_parameters()) {
    const std::string& n = item.key();
    const bool proj = n.rfind("model.mm_projector.", 0) == 0, tower = n.rfind("model.vision_tower.", 0) == 0;
    const bool lora = n.find(".lora_") != std::string::npos;
    if (!(proj || (o.mode == "lora" && lora) || (o.mode == "full" && !tower))) continue;
    item.value().set_requires_grad(true);
    trainable.push_back({n, item.value(), 0});
    params.push_back(item.value());
  }
  if (o.base_dtype != "float32") train::cast_frozen_weights(root, parse_dtype(o.base_dtype));
  const std::string recompute = !o.recompute.empty() ? o.recompute : o.gradient_checkpointing ? "full" : "none";
  {
    train::TrainArgs a;  // what the training flags of this bench would be (the auto plan's fixed part)
    a.gradient_checkpointing = recompute;
    a.memory_budget_gb = o.memory_budget_gb;
    a.bf16 = o.dtype == "bfloat16";
    a.half_base = o.base_dtype != "float32";
    a.lora_r = o.lora_r;
    a.lora_dropout = o.lora_dropout;
    a.logits_chunk_size = o.logits_chunk;
    a.attn_implementation = o.attn_implementation;
    const auto stage = o.mode == "lora" ? train::Stage::finetune_lora
                       : o.mode == "full" ? train::Stage::finetune : train::Stage::pretrain;
    train::set_recompute_policy(model, a, stage, 1, dev);
  }
  train::AdamW opt(trainable, {{"all", o.lr, 0.0}});
  root.train();

  std::vector<ImpInputs> micro;
  const int64_t patches = model.config().vision.num_patches();
  const int64_t samples = static_cast<int64_t>(o.batch) * o.grad_accum;
  train::StepShape shape;  // the rows of one step: the FLOP count
  train::StepShape packed_shape;  // --packing: each sample its own row, no padding
  int64_t tokens = 0;      // unpadded positions (what both sides count as throughput)
  int64_t labelled = 0;
  if (!o.mix.empty()) {
    const auto mix = load_mix(o.mix);
    for (int k = 0; k < o.grad_accum; ++k) {
      std::vector<MixSample> chosen;
      int64_t longest = 0;
      for (int i = 0; i < o.batch; ++i) {
        const auto& m = mix[(static_cast<size_t>(k) * o.batch + i) % mix.size()];
        chosen.push_back(m);
        tokens += m.text + (m.image ? patches - 1 : 0);
        labelled += m.answer;
        longest = std::max(longest, m.text + (m.image ? patches - 1 : 0));
        packed_shape.add_rows(1, m.text + (m.image ? patches - 1 : 0), 0);
      }
      micro.push_back(mix_inputs(model, chosen, dev));
      shape.add_rows(o.batch, longest, micro.back().pixel_values.defined() ? micro.back().pixel_values.size(0) : 0);
      packed_shape.images = shape.images;
    }
  } else {
    for (int k = 0; k < o.grad_accum; ++k) {
      micro.push_back(bench_inputs(model, o.batch, o.seq, o.image, dev, torch::kFloat32));
      shape.add_rows(o.batch, o.image ? o.seq - 1 + patches : o.seq, o.image ? o.batch : 0);
      labelled += o.batch * (o.seq - (o.image ? 2 : 1));  // labels = ids shifted; the image rows ignored
    }
    tokens = shape.positions;
  }
  train::StepShape reference_shape = shape;  // the work of full logits (what the Python side computes)
  if (o.packing && !o.mix.empty()) shape = packed_shape;  // (--seq rows have no padding to drop)
  if (o.logits_chunk > 0) shape.scored = labelled;
  double last_loss = 0;
  const bool hwm_reset = reset_peak_rss();
  const double step_s = time_it(o.warmup, o.iters, dev, [&] {
    opt.zero_grad();
    double total = 0;
    for (auto& in : micro) {
      torch::Tensor loss;
      {
        nn::AutocastGuard autocast(o.dtype == "bfloat16", dev.type(), torch::kBFloat16);
        in.pack = o.packing;
        if (o.logits_chunk > 0) {  // the trainer's --logits_chunk_size path; mean over labels as HF
          in.compute_logits = false;
          auto out = model.forward(in);
          const auto n = out.labels.slice(1, 1).ne(kIgnoreIndex).sum();
          loss = labelled_loss_sum(*model.lm, out.hidden, out.labels, o.logits_chunk) / n / o.grad_accum;
        } else {
          loss = model.forward(in).loss / o.grad_accum;
        }
      }
      loss.backward();
      total += loss.item<double>();
    }
    last_loss = total;
    train::clip_grad_norm(params, 1.0);
    opt.step(1.0);
  });
  int64_t n_params = 0, n_trainable = 0;
  for (const auto& p : root.parameters()) n_params += p.numel();
  for (const auto& p : params) n_trainable += p.numel();
  Json r = {{"impl", "imp"}, {"arch", o.arch}, {"mode", o.mode}, {"layers", o.layers},
            {"vision_layers", o.vision_layers}, {"batch", o.batch}, {"seq", o.seq}, {"image", o.image},
            {"grad_accum", o.grad_accum}, {"dtype", o.dtype}, {"base_dtype", o.base_dtype},
            {"mix", o.mix.substr(o.mix.rfind('/') + 1)}, {"logits_chunk", o.logits_chunk},
            {"attn_implementation", model.lm->attention_impl == nn::AttentionImpl::sdpa ? "sdpa" : "eager"},
            {"gradient_checkpointing", o.gradient_checkpointing}, {"recompute", recompute},
            {"whole_layers_recomputed", model.lm->last_full_layers()}, {"packing", o.packing},
            {"device", dev.str()}, {"threads", torch::get_num_threads()}, {"params", n_params},
            {"trainable_params", n_trainable}, {"tokens_per_step", tokens}, {"samples_per_step", samples},
            {"iters", o.iters}, {"warmup", o.warmup}, {"step_ms", step_s * 1e3}, {"tokens_per_s", tokens / step_s},
            {"samples_per_s", samples / step_s}, {"peak_rss_mb", peak_rss_mib()},
            {"train_peak_rss_mb", hwm_reset ? Json(vm_hwm_mib()) : Json(nullptr)}, {"last_loss", last_loss},
            {"torch", compat::torch_version()}};
  if (o.lora_r && o.mode == "lora") r["lora_r"] = o.lora_r;
  // MFU / HFU (include/imp/train/flops.h): useful FLOPs (and with recomputation) over the device's dense peak.
  const double whole = static_cast<double>(model.lm->last_full_layers()) / o.layers;
  const bool selective = model.lm->recompute.selective;
  const auto flops = train::train_step_flops(root, model.config(), shape, whole, selective);
  const auto peak = train::peak_flops(dev, o.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32);
  if (dev.is_cuda()) r["peak_cuda_mb"] = cuda_peak_allocated_mib(dev.has_index() ? dev.index() : 0);
  r["step_tflop"] = flops.model / 1e12;
  r["reference_step_tflop"] = train::train_step_flops(root, model.config(), reference_shape, whole, selective).model / 1e12;
  r["achieved_tflop_per_s"] = flops.model / step_s / 1e12;
  r["peak_source"] = peak.source;
  if (peak.flops_per_s > 0) {
    r["peak_tflop_per_s"] = peak.flops_per_s / 1e12;
    r["mfu"] = flops.model / step_s / peak.flops_per_s;
    r["hfu"] = flops.hardware / step_s / peak.flops_per_s;
  }
  if (o.json) {
    std::cout << r.dump() << "\n";
  } else {
    std::cout << std::fixed << std::setprecision(3) << "imp bench train: " << o.arch << " x" << o.layers << " layers (+SigLIP x"
              << o.vision_layers << "), mode " << o.mode << ", " << n_trainable / 1e6 << "M of " << n_params / 1e6
              << "M params trainable, " << tokens << " tokens/step, " << o.dtype << ", " << torch::get_num_threads()
              << " threads\n  step " << step_s << " s  (" << tokens / step_s << " tokens/s, " << samples / step_s
              << " samples/s)\n  " << flops.model / step_s / 1e12 << " TFLOP/s useful";
    if (peak.flops_per_s > 0)
      std::cout << ", MFU " << 100 * r["mfu"].get<double>() << "%, HFU " << 100 * r["hfu"].get<double>() << "% of "
                << peak.flops_per_s / 1e12 << " TFLOP/s (" << peak.source << ")";
    std::cout << "\n  peak RSS " << peak_rss_mib() << " MiB\n";
  }
  return 0;
}

}  // namespace imp::cli
