// `imp bench forward`: forward and forward+backward time of an Imp-shaped model (real widths,
// reduced depth, random weights). bench/forward_bench.py times the same model in Python PyTorch;
// bench/run_forward_bench.sh runs both and prints the ratio.
#include <sys/resource.h>

#include <chrono>
#include <iomanip>
#include <iostream>

#include "imp/cli/commands.h"
#include "imp/core/compat.h"
#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/models/imp_model.h"

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

int run_bench_forward(const BenchForwardOptions& o) {
  IMP_CHECK_KIND(o.layers >= 1 && o.vision_layers >= 1 && o.batch >= 1 && o.seq >= 2 && o.iters >= 1,
                 ErrorKind::usage, "bench: --layers, --vision-layers, --batch, --iters must be >= 1 and --seq >= 2");
  if (o.threads > 0) torch::set_num_threads(o.threads);
  torch::manual_seed(0);
  Json j = decoder_json(o.arch, o.layers);
  j["mm_projector_type"] = "mlp2x_gelu";
  j["mm_vision_select_layer"] = -2;
  j["vision_tower_config"] = {{"num_hidden_layers", o.vision_layers + 1}};  // so400m widths, one dropped
  ImpModel model(ModelConfig::from_json(j, "bench config"));
  const auto dev = parse_device(o.device);
  const auto dtype = parse_dtype(o.dtype);
  check_dtype_supported(dtype, dev);
  model.root().to(dev, dtype);
  model.set_attention_impl(nn::parse_attention_impl(o.attn_implementation));

  const auto& t = model.config().text;
  ImpInputs in;
  in.input_ids = torch::randint(0, t.vocab_size, {o.batch, o.seq}, torch::TensorOptions().dtype(torch::kInt64));
  if (o.image) {
    in.input_ids.select(1, 1).fill_(kImageTokenIndex);
    const auto& v = model.config().vision;
    in.pixel_values = torch::randn({o.batch, 3, v.image_size, v.image_size}).to(dev, dtype);
  }
  in.input_ids = in.input_ids.to(dev);
  in.labels = in.input_ids.clone();
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

}  // namespace imp::cli
