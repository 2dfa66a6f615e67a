// The imp executable: binds command-line flags to the options structs of cli/commands.h,
// dispatches, and is the one place that catches errors and turns them into exit codes.
#include <algorithm>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "imp/cli/commands.h"
#include "imp/cli/data.h"
#include "imp/cli/registry.h"
#include "imp/cli/tokenize.h"
#include "imp/core/build_info.h"
#include "imp/core/compat.h"
#include "imp/core/error.h"

namespace {

constexpr const char* kForwardHelp = R"(Runs one forward pass and writes the outputs.

Inputs (by tensor name, in a safetensors file):
  input_ids       int64 [B,T]; -200 marks where an image is spliced in (<image>)
  attention_mask  int64 [B,T], 1 = token, 0 = padding (optional)
  pixel_values    float32 [N,3,S,S], one per -200 token (optional; see README)
  labels          int64 [B,T], -100 = ignored (optional; gives 'loss')
Outputs:
  logits          float32 [B,T',V]   (T' = length after the image splice)
  loss            float32 scalar     (with labels)
  image_features  float32 [N,P,Dv]   vision tower output (with pixel_values)
  image_embeds    float32 [N,P,H]    projector output (with pixel_values)
  spliced_attention_mask, spliced_labels  int64 [B,T']
A SigLIP-only directory needs only pixel_values and returns image_features.)";

}  // namespace

// The deepspeed launcher puts --local_rank=N before the subcommand (`imp --local_rank=0 finetune-lora ...`):
// move it behind the subcommand name, where the training and dist-check flags accept it.
std::vector<char*> deepspeed_argv(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  const std::string flag = args.size() > 1 ? args[1] : "";
  const bool joined = flag.rfind("--local_rank=", 0) == 0 || flag.rfind("--local-rank=", 0) == 0;
  const bool split = (flag == "--local_rank" || flag == "--local-rank") && args.size() > 2;
  const size_t n = joined ? 1 : split ? 2 : 0;
  if (n == 0 || args.size() <= 1 + n) return args;
  std::rotate(args.begin() + 1, args.begin() + 1 + n, args.begin() + 2 + n);  // subcommand first, then the flag
  return args;
}

int main(int argc, char** argv_in) {
  auto args = deepspeed_argv(argc, argv_in);
  char** argv = args.data();
  CLI::App app{"imp: train, merge and evaluate Imp multimodal models (SigLIP + projector + Phi-2/Qwen1.5/Phi-3) "
               "on LibTorch " + imp::compat::torch_version()};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return imp::build_info_report(); },
                       "Print the build (LibTorch, CUDA, cuDNN, NCCL, Gloo), CPU features and visible GPUs");

  imp::cli::InspectOptions inspect;
  auto* c_inspect = app.add_subcommand("inspect", "Summarise a model directory, PEFT adapter or .safetensors file");
  auto* o_path = c_inspect->add_option("path", inspect.path, "model directory, adapter directory or .safetensors file");
  auto* o_env = c_inspect->add_flag("--env", inspect.env, "print the build and the machine (as imp --version)");
  o_env->excludes(o_path);
  c_inspect->callback([&] {
    if (!inspect.env && inspect.path.empty()) throw CLI::RequiredError("path (or --env)");
  });

  imp::cli::ForwardOptions fwd;
  auto* c_fwd = app.add_subcommand("forward", "Run one forward pass on tensors from a safetensors file");
  c_fwd->footer(kForwardHelp);
  c_fwd->add_option("--model", fwd.model, "HF-layout model directory (Imp, decoder-only or SigLIP)")->required();
  c_fwd->add_option("--lora", fwd.lora, "PEFT LoRA adapter directory applied on top of --model");
  c_fwd->add_flag("--merge-lora", fwd.merge_lora, "merge the adapter into the weights before running");
  c_fwd->add_option("--inputs", fwd.inputs, "input tensors (.safetensors)")->required();
  c_fwd->add_option("--output", fwd.output, "where to write the outputs (.safetensors)")->required();
  c_fwd->add_option("--dtype", fwd.dtype, "float32 | bfloat16 | float16")->capture_default_str();
  c_fwd->add_option("--device", fwd.device, "cpu | cuda | cuda:N")->capture_default_str();
  c_fwd->add_option("--attn-implementation", fwd.attn_implementation,
                    "eager (HF eager numerics) | sdpa (fused, LibTorch >= 2.0) | auto")
      ->capture_default_str();

  imp::cli::BenchForwardOptions bench;
  auto* c_bench = app.add_subcommand("bench", "Benchmarks (compare with bench/*.py, see README)");
  c_bench->require_subcommand(1);
  auto* c_bf = c_bench->add_subcommand("forward", "Forward and forward+backward time of an Imp-shaped model");
  c_bf->add_option("--arch", bench.arch, "phi2 | qwen2 | phi3 (released widths)")->capture_default_str();
  c_bf->add_option("--layers", bench.layers, "decoder layers")->capture_default_str();
  c_bf->add_option("--vision-layers", bench.vision_layers, "SigLIP layers")->capture_default_str();
  c_bf->add_option("--batch", bench.batch, "samples per batch")->capture_default_str();
  c_bf->add_option("--seq", bench.seq, "text tokens per sample")->capture_default_str();
  c_bf->add_option("--image", bench.image, "splice one image per sample")->capture_default_str();
  c_bf->add_option("--dtype", bench.dtype, "float32 | bfloat16 | float16")->capture_default_str();
  c_bf->add_option("--device", bench.device, "cpu | cuda")->capture_default_str();
  c_bf->add_option("--attn-implementation", bench.attn_implementation, "eager | sdpa | auto")->capture_default_str();
  c_bf->add_option("--warmup", bench.warmup, "untimed iterations")->capture_default_str();
  c_bf->add_option("--iters", bench.iters, "timed iterations")->capture_default_str();
  c_bf->add_option("--threads", bench.threads, "intra-op threads (0 = default)")->capture_default_str();
  c_bf->add_flag("--json", bench.json, "print one JSON line");

  imp::cli::BenchTrainOptions btrain;
  auto* c_bt = c_bench->add_subcommand("train", "One optimizer step (LoRA / projector / full) of an Imp-shaped model");
  c_bt->add_option("--arch", btrain.arch, "phi2 | qwen2 | phi3 (released widths)")->capture_default_str();
  c_bt->add_option("--layers", btrain.layers, "decoder layers")->capture_default_str();
  c_bt->add_option("--vision-layers", btrain.vision_layers, "SigLIP layers")->capture_default_str();
  c_bt->add_option("--batch", btrain.batch, "samples per micro-batch")->capture_default_str();
  c_bt->add_option("--seq", btrain.seq, "text tokens per sample")->capture_default_str();
  c_bt->add_option("--image", btrain.image, "splice one image per sample")->capture_default_str();
  c_bt->add_option("--grad-accum", btrain.grad_accum, "micro-batches per optimizer step")->capture_default_str();
  c_bt->add_option("--mode", btrain.mode, "lora | projector | full")->capture_default_str();
  c_bt->add_option("--lora-r", btrain.lora_r, "LoRA rank")->capture_default_str();
  c_bt->add_option("--lora-alpha", btrain.lora_alpha, "LoRA alpha")->capture_default_str();
  c_bt->add_option("--lora-dropout", btrain.lora_dropout, "LoRA dropout")->capture_default_str();
  c_bt->add_option("--gradient-checkpointing", btrain.gradient_checkpointing, "recompute decoder layers")
      ->capture_default_str();
  c_bt->add_option("--recompute", btrain.recompute, "imp's --gradient_checkpointing none | full | selective | auto "
                   "(overrides --gradient-checkpointing)");
  c_bt->add_option("--packing", btrain.packing, "imp's --packing: padding-free micro-batches")->capture_default_str();
  c_bt->add_option("--memory-budget-gb", btrain.memory_budget_gb, "--recompute auto: peak memory to plan for "
                   "(0: 90% of the memory)")->capture_default_str();
  c_bt->add_option("--lr", btrain.lr, "AdamW learning rate")->capture_default_str();
  c_bt->add_option("--dtype", btrain.dtype, "float32 | bfloat16 (autocast)")->capture_default_str();
  c_bt->add_option("--base-dtype", btrain.base_dtype, "frozen weights: float32 | bfloat16 | float16")
      ->capture_default_str();
  c_bt->add_option("--mix", btrain.mix, "length mix JSON (bench/data/llava665k_mix.json) instead of --seq/--image");
  c_bt->add_option("--logits-chunk", btrain.logits_chunk, "lm_head + loss on labelled rows, this many at once; "
                   "0: full logits")->capture_default_str();
  c_bt->add_option("--device", btrain.device, "cpu | cuda")->capture_default_str();
  c_bt->add_option("--attn-implementation", btrain.attn_implementation, "eager | sdpa | auto")->capture_default_str();
  c_bt->add_option("--warmup", btrain.warmup, "untimed steps")->capture_default_str();
  c_bt->add_option("--iters", btrain.iters, "timed steps")->capture_default_str();
  c_bt->add_option("--threads", btrain.threads, "intra-op threads (0 = default)")->capture_default_str();
  c_bt->add_flag("--json", btrain.json, "print one JSON line");

  imp::cli::TokenizeOptions tokenize;
  auto* c_tok = app.add_subcommand("tokenize", "Encode (or decode) JSON Lines from stdin with an HF tokenizer");
  c_tok->footer("Input: one JSON string per line (with --decode: one JSON array of ids per line).\n"
                "Output: one JSON array of ids (or one JSON string) per line.");
  c_tok->add_option("--tokenizer", tokenize.tokenizer, "directory with tokenizer.json (or vocab.json + merges.txt), "
                    "or a tokenizer.json file")->required();
  c_tok->add_flag("--decode", tokenize.decode, "decode id arrays instead of encoding strings");
  c_tok->add_flag("--add-special-tokens,--add_special_tokens", tokenize.add_special_tokens,
                  "add BOS/EOS as the tokenizer config says");
  c_tok->add_flag("--skip-special-tokens,--skip_special_tokens", tokenize.skip_special_tokens,
                  "drop special tokens when decoding");
  c_tok->add_option("--threads", tokenize.threads, "encoding threads (0 = all cores)")->capture_default_str();

#ifdef IMP_WITH_OPENCV
  imp::cli::DataOptions data;
  auto* c_data = app.add_subcommand("data", "Check a LLaVA-format dataset or dump what its samples become");
  c_data->require_subcommand(1);
  auto data_flags = [&](CLI::App* c) {
    c->add_option("--data_path,--data-path", data.data_path, "LLaVA-format JSON list")->required();
    c->add_option("--image_folder,--image-folder", data.image_folder, "folder the 'image' paths are relative to");
    c->add_option("--model", data.model, "model directory (tokenizer, image size and aspect ratio from it)");
    c->add_option("--tokenizer", data.tokenizer, "tokenizer directory or tokenizer.json (instead of --model)");
    c->add_option("--version", data.version, "conversation template: phi2 | qwen1.5 | phi3 | plain")
        ->capture_default_str();
    c->add_option("--model_max_length,--model-max-length", data.model_max_length, "token budget per sample")
        ->capture_default_str();
    c->add_option("--image_aspect_ratio,--image-aspect-ratio", data.image_aspect_ratio, "square | pad | crop");
    c->add_option("--image_size,--image-size", data.image_size, "vision input size (default: the model's, else 384)");
    c->add_flag("--text_only,--text-only", data.text_only, "a text-only run: no zero images for text samples");
    c->add_option("--num_workers,--num-workers", data.num_workers, "threads")->capture_default_str();
  };
  auto* c_check = c_data->add_subcommand("check", "Validate every sample; report bad, masked and over-long ones");
  data_flags(c_check);
  c_check->add_option("--bad_samples,--bad-samples", data.bad_samples, "write bad samples here (JSON Lines)");
  c_check->add_option("--max_bad_fraction,--max-bad-fraction", data.max_bad_fraction,
                      "exit with code 3 above this fraction of bad samples")->capture_default_str();
  c_check->add_option("--max_masked_fraction,--max-masked-fraction", data.max_masked_fraction,
                      "exit with code 3 above this fraction of fully masked (tokenization mismatch) samples")
      ->capture_default_str();
  auto* c_dump = c_data->add_subcommand("dump", "Write id, input_ids and labels of each sample (JSON Lines)");
  data_flags(c_dump);
  c_dump->add_option("--output", data.output, "JSON Lines output")->required();
  c_dump->add_option("--pixels", data.pixels, "also write pixel tensors, one per sample id (.safetensors)");
  c_dump->add_option("--limit", data.limit, "only the first N samples");
#endif

  imp::cli::Commands commands;
  imp::cli::add_train_commands(app, commands);
  imp::cli::add_launch_command(app, commands);
  imp::cli::add_eval_commands(app, commands);
  imp::cli::add_demo_commands(app, commands);
#ifdef IMP_WITH_SERVE
  imp::cli::add_serve_commands(app, commands);
#endif
  imp::cli::add_quantize_command(app, commands);
  imp::cli::add_export_commands(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(imp::ErrorKind::usage);
  }

  try {
    if (c_inspect->parsed()) return imp::cli::run_inspect(inspect);
    if (c_fwd->parsed()) return imp::cli::run_forward(fwd);
    if (c_bf->parsed()) return imp::cli::run_bench_forward(bench);
    if (c_bt->parsed()) return imp::cli::run_bench_train(btrain);
    if (c_tok->parsed()) return imp::cli::run_tokenize(tokenize);
    // Deepest parsed command first, so `eval score` wins over `eval`.
    for (auto it = commands.rbegin(); it != commands.rend(); ++it)
      if (it->app->parsed()) return it->run();
#ifdef IMP_WITH_OPENCV
    if (c_check->parsed()) return imp::cli::run_data_check(data);
    if (c_dump->parsed()) return imp::cli::run_data_dump(data);
#endif
  } catch (const imp::Error& e) {
    std::cerr << "imp: error: " << e.what() << "\n";
    return static_cast<int>(e.kind());
  } catch (const c10::Error& e) {
    std::cerr << "imp: error (LibTorch): " << e.what_without_backtrace() << "\n";
    return static_cast<int>(imp::ErrorKind::internal);
  } catch (const std::exception& e) {
    std::cerr << "imp: error: " << e.what() << "\n";
    return static_cast<int>(imp::ErrorKind::internal);
  }
  return 0;
}
