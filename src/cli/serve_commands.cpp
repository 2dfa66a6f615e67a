// `imp serve` (the OpenAI-compatible HTTP server, serve/server.h) and `imp chat` (a terminal chat on the
// same engine, in process).
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <memory>

#include "imp/cli/registry.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/eval/chat_engine.h"
#include "imp/quant/config.h"
#include "imp/serve/server.h"

namespace imp::cli {
namespace {

void add_engine_flags(CLI::App* c, eval::ChatEngineOptions& e, std::string& quantized) {
  auto* model = c->add_option("--model", e.model, "Imp model directory (e.g. the demo's merged model)");
  auto* quant = c->add_option("--quantized", quantized, "an `imp quantize` output directory (instead of --model)");
  model->excludes(quant);
  auto* group = c->add_option_group("model");
  group->add_options(model, quant);
  group->require_option(1);
  c->add_option("--lora", e.lora, "PEFT LoRA adapter merged on top of --model");
  c->add_option("--conv-mode,--conv_mode", e.conv_mode, "template: phi2 | qwen2 | phi3 (default: the model's)");
  c->add_option("--device", e.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  c->add_option("--dtype", e.dtype, "auto | float32 | bfloat16 | float16")->capture_default_str();
  c->add_option("--attn-implementation", e.attn_implementation, "eager | sdpa | auto")->capture_default_str();
  c->add_option("--max-batch", e.max_batch, "requests decoded together in one batch")->capture_default_str();
}

// --quantized DIR: the model is DIR, which must hold a quantization_config (--model takes either kind).
void use_quantized(eval::ChatEngineOptions& e, const std::string& dir) {
  if (dir.empty()) return;
  const std::string config = join_path(dir, "config.json");
  IMP_CHECK_KIND(quant::find_quant_config(read_json_file(config), config).has_value(), ErrorKind::usage, dir,
                 " is not a quantized model (its config.json has no quantization_config); make one with imp quantize, "
                 "or pass a full-precision model with --model");
  e.model = dir;
}

int run_serve(eval::ChatEngineOptions eo, const std::string& quantized, const serve::ServeOptions& so) {
  use_quantized(eo, quantized);
  auto engine = eval::open_chat_engine(eo);
  const int code = serve::run_server(*engine, so, std::cerr);
  engine.reset();  // finishes what is still queued
  return code;
}

std::string read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  IMP_CHECK_KIND(f.good(), ErrorKind::io, path, ": cannot open the image file");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct ChatOptions {
  eval::ChatEngineOptions engine;
  std::string quantized;
  std::string image;
  int64_t max_tokens = 512;
  double temperature = 0;
};

int run_chat(ChatOptions o) {
  use_quantized(o.engine, o.quantized);
  auto engine = eval::open_chat_engine(o.engine);
  std::vector<eval::ChatMessage> history;
  std::vector<std::string> images;
  std::string pending = o.image.empty() ? "" : read_image(o.image);
  std::cerr << "imp chat: " << engine->model_name() << ". Type a message; /image PATH attaches an image, /reset "
            << "starts over, /exit quits.\n";
  std::string line;
  while (std::cout << "> " << std::flush, std::getline(std::cin, line)) {
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      history.clear();
      images.clear();
      pending.clear();
      std::cout << "(conversation cleared)\n";
      continue;
    }
    if (line.rfind("/image", 0) == 0) {
      const auto start = line.find_first_not_of(' ', 6);
      if (start == std::string::npos) {
        std::cout << "usage: /image PATH\n";
        continue;
      }
      try {
        pending = read_image(line.substr(start));
        std::cout << "(image attached to the next message)\n";
      } catch (const Error& e) {
        std::cout << "error: " << e.what() << "\n";
      }
      continue;
    }
    eval::ChatRequest req;
    req.messages = history;
    req.images = images;
    eval::ChatMessage user{"user", line};
    if (!pending.empty()) {
      user.text = "<image>\n" + line;
      req.images.push_back(pending);
    }
    req.messages.push_back(user);
    req.default_max_tokens = o.max_tokens;  // capped by the room the context leaves
    req.temperature = o.temperature;
    auto stream = engine->submit(req);
    std::string answer;
    eval::ChatEvent ev;
    for (;;) {
      while (!stream->next(ev, std::chrono::milliseconds(100))) {
      }
      if (ev.kind == eval::ChatEvent::Kind::text) {
        answer += ev.text;
        std::cout << ev.text << std::flush;
        continue;
      }
      break;
    }
    if (ev.kind == eval::ChatEvent::Kind::error) {
      std::cout << "error: " << ev.text << "\n";
      pending.clear();  // the turn (and its image) is dropped from the history
      continue;
    }
    std::cout << "\n";
    history.push_back(user);
    history.push_back({"assistant", answer});
    images = req.images;
    pending.clear();
  }
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& root, Commands& out) {
  auto eo = std::make_shared<eval::ChatEngineOptions>();
  auto so = std::make_shared<serve::ServeOptions>();
  auto quantized = std::make_shared<std::string>();
  auto* s = root.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions with "
                                         "images and streaming) with a chat page at /");
  add_engine_flags(s, *eo, *quantized);
  s->add_option("--name", eo->name, "model name reported to clients (default: the model directory's name)");
  s->add_option("--host", so->host, "address to listen on (0.0.0.0: every interface)")->capture_default_str();
  s->add_option("--port", so->port, "TCP port (0: any free port)")->capture_default_str();
  s->add_option("--api-key", so->api_key, "require 'Authorization: Bearer KEY' on the API (default: IMP_API_KEY)")
      ->envname("IMP_API_KEY");
  s->add_option("--max-concurrent", so->max_concurrent, "chat requests answered at once; more get HTTP 429")
      ->capture_default_str();
  s->add_option("--request-timeout", so->request_timeout_s, "seconds before a request is cancelled")->capture_default_str();
  s->add_option("--allowed-image-dir", so->limits.allowed_image_dir,
                "folder whose files image_url may name (file:///... or /...); default: data: URLs only");
  s->add_option("--max-body-bytes", so->limits.max_body_bytes, "largest request body")->capture_default_str();
  s->add_option("--max-image-bytes", so->limits.max_image_bytes, "largest image file")->capture_default_str();
  s->add_option("--max-image-pixels", so->limits.max_image_pixels, "largest width * height of an image")
      ->capture_default_str();
  s->add_option("--max-tokens-cap", so->limits.max_tokens_cap, "largest max_tokens a request may ask for")
      ->capture_default_str();
  s->add_option("--default-max-tokens", so->limits.default_max_tokens, "max_tokens when a request gives none")
      ->capture_default_str();
  s->add_option("--top-k", eo->top_k, "top-k when a request samples (0 = off, as OpenAI)")->capture_default_str();
  out.push_back({s, [eo, so, quantized] { return run_serve(*eo, *quantized, *so); }});

  auto co = std::make_shared<ChatOptions>();
  auto* c = root.add_subcommand("chat", "Chat with a model in the terminal (streaming; /image PATH, /reset, /exit)");
  co->engine.max_batch = 1;
  add_engine_flags(c, co->engine, co->quantized);
  c->add_option("--image", co->image, "image for the first message");
  c->add_option("--max-tokens", co->max_tokens, "new-token limit per answer")->capture_default_str();
  c->add_option("--temperature", co->temperature, "0 = greedy")->capture_default_str();
  out.push_back({c, [co] { return run_chat(*co); }});
}

}  // namespace imp::cli
