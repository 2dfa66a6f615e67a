// The OpenAI chat-completions wire format of `imp serve` (design/wave2.md "Serving conventions"): request
// bodies -> eval::ChatRequest (messages, content parts, image_url data: URLs and allowed server files,
// sampling parameters), and the JSON of responses, stream chunks, models and errors. Torch-free; every
// byte of a request is untrusted (tests/fuzz/fuzz_chat_request.cpp).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "imp/core/json.h"
#include "imp/eval/chat_engine.h"

namespace imp::serve {

// A request the server refuses: HTTP status + OpenAI's {"error": {message, type, param, code}}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)),
        type(std::move(type)) {}
  int status;
  std::string param, code, type;
};

// What a request may carry. Defaults in one place (imp serve's flags override them).
struct RequestLimits {
  uint64_t max_body_bytes = 32ull << 20;   // the whole HTTP body (413 above)
  uint64_t max_image_bytes = 16ull << 20;  // one decoded image file
  int64_t max_image_pixels = 16'000'000;   // width * height of one image (read from its header)
  size_t max_images = 8;                   // per request
  size_t max_messages = 256;
  int64_t max_tokens_cap = 4096;           // largest max_tokens accepted
  int64_t default_max_tokens = 256;        // when the request gives none (also capped by the context)
  size_t max_stop = 4;                     // stop strings, as OpenAI
  size_t max_stop_bytes = 256;             // each (checked on every generated token)
  std::string allowed_image_dir;           // empty: no server-side files
};

struct ParsedChat {
  eval::ChatRequest request;  // max_tokens 0: not given (default_max_tokens, capped by the context)
  std::string model;          // as sent ("" when absent)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Parses and validates a chat-completions body; throws ApiError (400, or 413 for oversized images).
ParsedChat parse_chat_request(const std::string& body, const RequestLimits& limits);

// One image_url.url -> the image file's bytes: "data:image/...;base64,..." or, only under
// limits.allowed_image_dir, "file:///abs/path" or "/abs/path". Checks the byte and pixel limits.
std::string load_image_url(const std::string& url, const RequestLimits& limits);

OrderedJson error_json(const ApiError& e);
OrderedJson completion_json(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                            const std::string& finish_reason, int64_t prompt_tokens, int64_t completion_tokens);
// A chat.completion.chunk; `delta` e.g. {"role":"assistant"} or {"content":"..."}; empty finish_reason = null.
OrderedJson chunk_json(const std::string& id, int64_t created, const std::string& model, const OrderedJson& delta,
                       const std::string& finish_reason);
OrderedJson usage_json(int64_t prompt_tokens, int64_t completion_tokens);
OrderedJson models_json(const std::string& model, int64_t created);

// "stop" | "length" from the engine's finish reason ("cancelled" never reaches a client).
std::string openai_finish_reason(const std::string& engine_reason);

// Compares a presented API key with the configured one in time independent of where they differ.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace imp::serve
