// `imp eval` (the Python eval scripts' engines, see include/imp/eval/engine.h) and `imp generate`
// (one prompt, printed as it is generated). `eval score` is added by add_eval_score_command.
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <memory>

#include "imp/cli/registry.h"
#include "imp/core/error.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/eval/engine.h"
#include "imp/eval/generate.h"

namespace imp::cli {
namespace {

struct EvalCliOptions {
  eval::EvalOptions eval;
  double top_p = 0;  // 0 = not given (Python's None)
  int64_t max_new_tokens = 0;  // 0 = the engine's default
  bool json = false;
};

struct GenerateOptions {
  std::string model, lora, image, prompt, conv_mode;
  std::string device = "auto", dtype = "auto", attn_implementation = "eager";
  int64_t max_new_tokens = 512;
  double temperature = 0, top_p = 1.0;
  int64_t top_k = 50;
  uint64_t seed = 0;
  std::vector<std::string> stop;
};

void add_session_flags(CLI::App* c, eval::SessionOptions& s) {
  c->add_option("--device", s.device, "auto (cuda when available) | cpu | cuda | cuda:N")->capture_default_str();
  c->add_option("--dtype", s.dtype, "auto (float16 on CUDA as Python eval, float32 on CPU) | float32 | bfloat16 | "
                "float16")->capture_default_str();
  c->add_option("--attn-implementation", s.attn_implementation, "eager | sdpa | auto")->capture_default_str();
}

int run_eval_command(EvalCliOptions& c) {
  if (c.top_p > 0) c.eval.top_p = c.top_p;
  if (c.max_new_tokens > 0) c.eval.max_new_tokens = c.max_new_tokens;
  const auto sum = eval::run_eval(c.eval, std::cerr);
  const double qps = sum.seconds > 0 ? sum.answered / sum.seconds : 0.0;
  const double tps = sum.seconds > 0 ? sum.new_tokens / sum.seconds : 0.0;
  if (c.json) {
    std::cout << Json{{"questions", sum.questions}, {"resumed", sum.resumed}, {"answered", sum.answered},
                      {"new_tokens", sum.new_tokens}, {"seconds", sum.seconds}, {"questions_per_s", qps},
                      {"tokens_per_s", tps}, {"batch_size", c.eval.batch_size}}
                     .dump()
              << "\n";
  } else {
    std::cout << "imp eval: wrote " << sum.answered << " answers to " << c.eval.answers_file << " (" << sum.resumed
              << " were there already); " << qps << " questions/s, " << tps << " generated tokens/s\n";
  }
  return 0;
}

int run_generate(const GenerateOptions& g) {
  IMP_CHECK_KIND(!g.model.empty(), ErrorKind::usage, "--model is required");
  IMP_CHECK_KIND(!g.prompt.empty(), ErrorKind::usage, "--prompt is required");
  eval::SessionOptions so;
  so.model_path = g.lora.empty() ? g.model : g.lora;
  so.model_base = g.lora.empty() ? "" : g.model;
  so.device = g.device;
  so.dtype = g.dtype;
  so.attn_implementation = g.attn_implementation;
  auto s = eval::Session::open(so);
  const std::string conv = g.conv_mode.empty() ? eval::default_conv_mode(s.arch) : g.conv_mode;
  eval::Prompt p;
  const std::string question = g.image.empty() ? g.prompt : "<image>\n" + g.prompt;
  p.input_ids = data::tokenizer_image_token(data::render(data::get_template(conv), {question, ""}), *s.tokenizer);
  if (!g.image.empty()) p.pixels = s.pixels_from_file(g.image);
  eval::GenerationConfig cfg;
  cfg.max_new_tokens = g.max_new_tokens;
  cfg.temperature = g.temperature;
  cfg.top_p = g.top_p;
  cfg.top_k = g.top_k;
  cfg.seed = g.seed;
  cfg.eos_ids = s.ids.eos;
  cfg.stop_strings = g.stop;
  const std::string& end_marker = data::get_template(conv).sep2;
  if (cfg.stop_strings.empty()) cfg.stop_strings = {end_marker.empty() ? "</s>" : end_marker};
  eval::Generator gen(*s.model, *s.tokenizer);
  eval::TextStream stream(*s.tokenizer);
  // Leading whitespace is held back: the final answer is stripped like the eval engines' text.
  bool started = false;
  auto emit = [&](const std::string& piece) {
    std::string out = piece;
    if (!started) {
      out = piece.substr(std::min(piece.size(), piece.find_first_not_of(" \t\n\r")));
      if (out.empty()) return;
      started = true;
    }
    std::cout << out << std::flush;
  };
  // Timing for bench/deploy_speed.sh: time to the first token (prefill, image included) and decode tokens/s after it.
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  Clock::time_point first, last;
  size_t calls = 0;
  const auto res = gen.generate({p}, cfg, [&](size_t, const std::vector<int64_t>& ids) {
    last = Clock::now();
    if (calls++ == 0) first = last;
    emit(stream.next(ids));
  });
  emit(stream.next(res[0].ids, /*final=*/true));
  std::cout << "\n";
  const auto secs = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  std::cerr << "imp generate: " << res[0].ids.size() << " tokens, stopped on " << eval::stop_reason_name(res[0].reason);
  if (calls > 0) std::cerr << "; prompt " << p.input_ids.size() << " tokens, time to first token " << secs(first - t0) * 1e3 << " ms";
  if (calls > 1) std::cerr << ", decode " << static_cast<double>(calls - 1) / secs(last - first) << " tokens/s";
  std::cerr << "\n";
  return 0;
}

}  // namespace

void add_eval_commands(CLI::App& root, Commands& out) {
  auto eo = std::make_shared<EvalCliOptions>();
  auto& e = eo->eval;
  auto* c = root.add_subcommand("eval", "Answer a benchmark's questions like Imp's eval scripts (model_vqa_loader, "
                                        "model_vqa_science, model_vqa_mmbench); `eval score` scores answers");
  c->footer("Answers are JSON Lines in the Python engines' format. An existing --answers-file is resumed: questions\n"
            "already answered (in order) are skipped and a torn last line is dropped; --overwrite starts again.\n"
            "--benchmark: vqav2 gqa vizwiz textvqa pope mme mmvet (loader) | sqa (science) | mmbench mmbench_cn.\n"
            "Without it the engine follows the question file: .tsv mmbench, .json science, else loader.");
  c->add_option("--model-path,--model_path", e.session.model_path, "model directory (or a LoRA adapter with --model-base)");
  c->add_option("--model-base,--model_base", e.session.model_base, "base model directory of a LoRA adapter");
  c->add_option("--question-file,--question_file", e.question_file, "questions (.jsonl, SQA .json, MMBench .tsv)");
  c->add_option("--image-folder,--image_folder", e.image_folder, "folder the questions' image paths are relative to");
  c->add_option("--answers-file,--answers_file", e.answers_file, "answers (JSON Lines), resumed when present");
  c->add_option("--conv-mode,--conv_mode", e.conv_mode, "template: phi2 | qwen2 | phi3 (default: the model's decoder)");
  c->add_option("--benchmark", e.benchmark, "benchmark name (picks the engine)");
  c->add_option("--temperature", e.temperature, "0 = greedy; > 0 samples (Python default 0.2, the scripts pass 0)")
      ->capture_default_str();
  c->add_option("--top_p,--top-p", eo->top_p, "nucleus sampling threshold (sampling only)");
  c->add_option("--top_k,--top-k", e.top_k, "top-k (sampling only; HF's default 50)")->capture_default_str();
  c->add_option("--num_beams,--num-beams", e.num_beams, "beam count; only 1 is supported")->capture_default_str();
  c->add_option("--max_new_tokens,--max-new-tokens", eo->max_new_tokens,
                "new-token limit (default: 2000 loader, 1024 sqa/mmbench, as the Python engines)");
  c->add_option("--num-chunks,--num_chunks", e.num_chunks, "split the questions into N chunks")->capture_default_str();
  c->add_option("--chunk-idx,--chunk_idx", e.chunk_idx, "which chunk this process answers")->capture_default_str();
  c->add_option("--batch-size,--batch_size", e.batch_size, "questions generated together (answers equal batch 1)")
      ->capture_default_str();
  c->add_flag("--all-rounds,--all_rounds", e.all_rounds, "MMBench: one round per circular shift of the options");
  c->add_flag("--single-pred-prompt,--single_pred_prompt", e.single_pred_prompt,
              "append \"Answer with the option's letter from the given choices directly.\" (SQA, MMBench)");
  c->add_option("--lang", e.lang, "MMBench single-pred prompt language: en | cn")->capture_default_str();
  c->add_flag("--overwrite", e.overwrite, "start a new answers file instead of resuming");
  c->add_option("--seed", e.seed, "sampling seed")->capture_default_str();
  c->add_flag("--json", eo->json, "print the summary as one JSON line");
  add_session_flags(c, e.session);
  out.push_back({c, [eo] { return run_eval_command(*eo); }});
  add_eval_score_command(*c, out);

  auto go = std::make_shared<GenerateOptions>();
  auto* g = root.add_subcommand("generate", "Answer one prompt (optionally about an image), printing tokens as they come");
  g->add_option("--model", go->model, "Imp model directory")->required();
  g->add_option("--lora", go->lora, "PEFT LoRA adapter applied (merged) on top of --model");
  g->add_option("--image", go->image, "image file (omit for a text-only prompt)");
  g->add_option("--prompt", go->prompt, "the question")->required();
  g->add_option("--conv-mode,--conv_mode", go->conv_mode, "template: phi2 | qwen2 | phi3 (default: the model's)");
  g->add_option("--max-new-tokens,--max_new_tokens", go->max_new_tokens, "new-token limit")->capture_default_str();
  g->add_option("--temperature", go->temperature, "0 = greedy")->capture_default_str();
  g->add_option("--top-p,--top_p", go->top_p, "nucleus sampling threshold")->capture_default_str();
  g->add_option("--top-k,--top_k", go->top_k, "top-k sampling (0 = off)")->capture_default_str();
  g->add_option("--seed", go->seed, "sampling seed")->capture_default_str();
  g->add_option("--stop", go->stop, "stop string(s) (default: the template's end marker)");
  g->add_option("--device", go->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  g->add_option("--dtype", go->dtype, "auto | float32 | bfloat16 | float16")->capture_default_str();
  g->add_option("--attn-implementation", go->attn_implementation, "eager | sdpa | auto")->capture_default_str();
  out.push_back({g, [go] { return run_generate(*go); }});
}

}  // namespace imp::cli
