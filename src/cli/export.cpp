// `imp export gguf`: a model's decoder as a GGUF file for llama.cpp (docs/deploy.md).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "imp/cli/registry.h"
#include "imp/export/export_gguf.h"
#include "imp/export/gguf_writer.h"

namespace imp::cli {

void add_export_commands(CLI::App& root, Commands& out) {
  auto* e = root.add_subcommand("export", "Write a model in another runtime's format");
  e->require_subcommand(1);
  auto o = std::make_shared<gguf::ExportOptions>();
  auto* g = e->add_subcommand("gguf", "The decoder (and tokenizer) as a GGUF file for llama.cpp");
  g->add_option("--model", o->model, "full-precision model directory (Imp or phi/qwen2/phi3 decoder)")->required();
  g->add_option("--output", o->output, "the .gguf file to write")->required();
  g->add_option("--type", o->type, "f32 | f16 | q8_0 | q4_0 | q4_k (2-d weights; norms and biases stay f32)")
      ->capture_default_str();
  g->add_option("--mmproj", o->mmproj, "also write the vision tower + projector as llama.cpp's mmproj .gguf");
  out.push_back({g, [o] {
                   const auto r = gguf::export_gguf(*o);
                   std::cout << "imp export gguf: " << r.arch << ", " << r.tensors << " tensors (" << o->type << "), "
                             << r.bytes / 1e6 << " MB of tensor data";
                   if (r.skipped && o->mmproj.empty())
                     std::cout << "; " << r.skipped << " vision/projector tensors not exported (--mmproj writes them)";
                   std::cout << "\nwrote " << o->output << "\n";
                   if (!o->mmproj.empty())
                     std::cout << "wrote " << o->mmproj << ": " << r.mmproj_layers << " vision layers + projector, "
                               << r.mmproj_tensors << " tensors, " << r.mmproj_bytes / 1e6 << " MB\n";
                   return 0;
                 }});
}

}  // namespace imp::cli
