// One options struct (with its defaults) and one run function per subcommand; main.cpp binds flags.
#pragma once

#include <string>

namespace imp::cli {

struct InspectOptions {
  std::string path;  // model dir, PEFT adapter dir or a .safetensors file
  bool env = false;  // --env: print the build and the machine instead
};
int run_inspect(const InspectOptions& o);

struct ForwardOptions {
  std::string model;
  std::string lora;
  std::string inputs;
  std::string output;
  std::string dtype = "float32";
  std::string device = "cpu";
  std::string attn_implementation = "eager";
  bool merge_lora = false;
};
int run_forward(const ForwardOptions& o);

struct BenchForwardOptions {
  std::string arch = "phi2";     // decoder family with Imp's real widths
  int layers = 2;                // reduced depth
  int vision_layers = 2;
  int batch = 1;
  int seq = 128;                 // text tokens per sample (plus the image's patches)
  bool image = true;
  std::string dtype = "float32";
  std::string device = "cpu";
  std::string attn_implementation = "eager";
  int warmup = 1;
  int iters = 3;
  int threads = 0;               // 0 = LibTorch default
  bool json = false;
};
int run_bench_forward(const BenchForwardOptions& o);

// Flags and defaults of bench/train_bench.py.
struct BenchTrainOptions {
  std::string arch = "phi2";
  int layers = 2;
  int vision_layers = 2;
  int batch = 1;
  int seq = 128;
  bool image = true;
  int grad_accum = 1;
  std::string mode = "lora";     // lora | projector | full
  int lora_r = 64;
  double lora_alpha = 16.0;
  double lora_dropout = 0.05;
  bool gradient_checkpointing = false;
  std::string recompute;         // imp only: none | full | selective | auto; empty: from gradient_checkpointing
  bool packing = false;          // imp only: --packing (padding-free micro-batches)
  double memory_budget_gb = 0;   // imp only: --recompute auto's budget (0: 90% of the memory)
  double lr = 2e-4;
  std::string dtype = "float32";  // float32 | bfloat16 (bf16 autocast)
  std::string base_dtype = "float32";  // frozen weights: float32 | bfloat16 | float16 (--half_base)
  std::string mix;               // length mix JSON (bench/data/llava665k_mix.json) instead of --seq/--image
  int logits_chunk = 0;          // imp only: --logits_chunk_size (0: full logits, as HF)
  std::string device = "cpu";
  std::string attn_implementation = "eager";
  int warmup = 1;
  int iters = 3;
  int threads = 0;
  bool json = false;
};
int run_bench_train(const BenchTrainOptions& o);

}  // namespace imp::cli
