// `imp quantize`: weight-only int8/int4 quantization of a model directory (docs/deploy.md).
#include <iomanip>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "imp/cli/registry.h"
#include "imp/quant/quantize_dir.h"

namespace imp::cli {

void add_quantize_command(CLI::App& root, Commands& out) {
  auto o = std::make_shared<quant::QuantizeOptions>();
  auto* c = root.add_subcommand("quantize", "Weight-only int8/int4 quantization of the linear layers and embeddings");
  c->add_option("--model", o->model, "full-precision model directory (Imp or phi/qwen2/phi3 decoder)")->required();
  c->add_option("--output", o->output, "new directory for the quantized model (must not exist)")->required();
  c->add_option("--bits", o->bits, "8 (symmetric int8) | 4 (asymmetric int4)")->check(CLI::IsMember({8, 4}))->capture_default_str();
  c->add_option("--group-size", o->group_size,
                "weights per scale: 32 | 64 | 128 (default 128 for 4 bits, one scale per row (-1) for 8 bits)");
  c->add_option("--embedding-bits", o->embedding_bits,
                "model.embed_tokens and lm_head: 8 (one scale per row) | 4 (groups) | 0 (kept in full precision); "
                "default: --bits")
      ->check(CLI::IsMember({0, 4, 8}));
  c->add_flag("!--no-vision", o->vision,
              "keep the vision tower and projector in full precision (default: their linears are quantized too)");
  out.push_back({c, [o] {
                   const auto r = quant::quantize_model_dir(*o);
                   std::cout << std::fixed << std::setprecision(2) << "imp quantize: " << r.layers
                             << " matrices (" << r.weights / 1e6 << "M weights) to " << o->bits << " bits";
                   if (r.row_int8) std::cout << " (" << r.row_int8 << " as int8 rows: group size does not divide them)";
                   std::cout << "; tensors " << r.bytes_before / 1e6 << " MB -> " << r.bytes_after / 1e6
                             << " MB; max |W - deq(W)| / max|W| = " << std::setprecision(4) << r.max_rel_error
                             << "\nwrote " << o->output << "\n";
                   return 0;
                 }});
}

}  // namespace imp::cli
