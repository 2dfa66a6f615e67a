// `imp serve`'s HTTP server (cpp-httplib): POST /v1/chat/completions (JSON or server-sent events),
// GET /v1/models, /health, /metrics and the chat page at /. Every request is answered by a ChatEngine;
// the server never touches a model. SIGTERM/SIGINT stop accepting, let in-flight requests finish, and
// run_server returns 0.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "imp/eval/chat_engine.h"
#include "imp/serve/openai.h"

namespace imp::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";  // localhost only unless told otherwise
  int port = 8000;                 // 0: any free port (printed)
  std::string api_key;             // empty: no authentication
  int64_t max_concurrent = 64;     // chat requests answered at once; more get 429
  double request_timeout_s = 600;  // a chat request still running then is cancelled (504 / stream error)
  RequestLimits limits;
};

// Serves until SIGTERM or SIGINT. `on_listening` gets the bound port once the socket is listening.
// Returns the exit code.
int run_server(eval::ChatEngine& engine, const ServeOptions& o, std::ostream& log,
               const std::function<void(int)>& on_listening = {});

// The chat page served at / (HTML with its script and style inline: no network needed).
const std::string& chat_page_html();

}  // namespace imp::serve
