// The HTTP routes of `imp serve`; see server.h. cpp-httplib runs each connection on a pool thread; a chat
// request holds one of --max-concurrent slots from parsing to its last byte, reads its ChatStream with
// short waits (so a timeout or a closed connection cancels the generation) and writes JSON or SSE. A plain
// handler cannot see its socket in cpp-httplib 0.11: PeerWatch finds it to notice a client that went away.
#include "imp/serve/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <random>
#include <thread>

#include <sys/socket.h>

#include "imp/core/error.h"
#include "imp/serve/metrics.h"
#include "imp/serve/peer_watch.h"

namespace imp::serve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPoll{50};

volatile std::sig_atomic_t g_signal = 0;
extern "C" void imp_serve_on_stop_signal(int sig) { g_signal = sig; }

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string completion_id() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  static const char* hex = "0123456789abcdef";
  std::string id = "chatcmpl-";
  for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
  return id;
}

void send_json(httplib::Response& res, int status, const OrderedJson& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

std::string sse(const OrderedJson& j) { return "data: " + j.dump() + "\n\n"; }

class Api {
 public:
  Api(eval::ChatEngine& engine, const ServeOptions& o) : engine_(engine), o_(o) {}

  // A chat request's slot: counts it in flight and records its status and latency when released.
  struct Slot {
    Api& api;
    Clock::time_point start = Clock::now();
    int status = 200;
    explicit Slot(Api& a) : api(a) {}
    ~Slot() {
      api.metrics_.request_done(status, std::chrono::duration<double>(Clock::now() - start).count());
      --api.in_flight_;
      api.metrics_.add_in_flight(-1);
    }
  };

  bool authorized(const httplib::Request& req) const {
    if (o_.api_key.empty()) return true;
    const std::string h = req.get_header_value("Authorization");
    const std::string bearer = "Bearer ";
    const std::string key = h.compare(0, bearer.size(), bearer) == 0 ? h.substr(bearer.size()) : std::string();
    return constant_time_equal(key, o_.api_key);
  }

  void error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_json(e)); }

  void chat(const httplib::Request& req, httplib::Response& res) {
    if (draining_) {
      res.set_header("Retry-After", "1");
      return error(res, ApiError(503, "the server is shutting down", "", "shutting_down", "server_error"));
    }
    if (in_flight_.fetch_add(1) >= o_.max_concurrent) {
      --in_flight_;
      metrics_.request_done(429, 0);
      res.set_header("Retry-After", "1");
      return error(res, ApiError(429, "too many concurrent requests (--max-concurrent " +
                                          std::to_string(o_.max_concurrent) + "); retry later",
                                 "", "rate_limit_exceeded", "rate_limit_error"));
    }
    metrics_.add_in_flight(1);
    auto slot = std::make_shared<Slot>(*this);
    ParsedChat pc;
    try {
      pc = parse_chat_request(req.body, o_.limits);
    } catch (const ApiError& e) {
      slot->status = e.status;
      return error(res, e);
    } catch (const std::exception&) {
      slot->status = 500;  // answered by the exception handler
      throw;
    }
    const auto deadline = slot->start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(o_.request_timeout_s));
    const PeerWatch peer(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
    auto stream = engine_.submit(std::move(pc.request));
    // Waits for the next event; a timeout or a client gone cancels the generation and answers the request.
    auto next = [&](eval::ChatEvent& ev) {
      for (;;) {
        const bool got = stream->next(ev, kPoll);
        if (got && ev.kind != eval::ChatEvent::Kind::text) return true;  // the final event, even at the deadline
        if (Clock::now() > deadline) {
          timeout(res, *slot, *stream);
          return false;
        }
        if (peer.closed()) {
          gone(res, *slot, *stream);
          return false;
        }
        if (got) return true;
      }
    };
    // The first event decides the status: an error (bad image, prompt too long) is a plain JSON error.
    eval::ChatEvent first;
    if (!next(first)) return;
    if (first.kind == eval::ChatEvent::Kind::error) {
      slot->status = first.bad_request ? 400 : 500;
      return error(res, ApiError(slot->status, first.text, "", first.bad_request ? "invalid_value" : "internal_error",
                                 first.bad_request ? "invalid_request_error" : "server_error"));
    }
    const std::string id = completion_id(), model = engine_.model_name();
    const int64_t created = unix_now();
    if (!pc.stream) {
      std::string text;
      eval::ChatEvent ev = std::move(first);
      for (;;) {
        if (ev.kind == eval::ChatEvent::Kind::text) text += ev.text;
        if (ev.kind == eval::ChatEvent::Kind::done) break;
        if (ev.kind == eval::ChatEvent::Kind::error) {
          slot->status = 500;
          return error(res, ApiError(500, ev.text, "", "internal_error", "server_error"));
        }
        if (!next(ev)) return;
      }
      return send_json(res, 200, completion_json(id, created, model, text, openai_finish_reason(ev.finish_reason),
                                                 ev.prompt_tokens, ev.completion_tokens));
    }
    // Server-sent events: a role chunk, content chunks, a finish chunk, [usage chunk], [DONE].
    struct State {
      std::shared_ptr<Slot> slot;
      std::shared_ptr<eval::ChatStream> stream;
      std::optional<eval::ChatEvent> pending;
      bool started = false;
    };
    auto st = std::make_shared<State>(State{slot, stream, std::move(first)});
    const bool usage = pc.include_usage;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st, id, model, created, usage, deadline](size_t, httplib::DataSink& sink) {
          if (!st->started) {
            st->started = true;
            const std::string head = sse(chunk_json(id, created, model, {{"role", "assistant"}, {"content", ""}}, ""));
            if (!sink.write(head.data(), head.size())) return false;
          }
          eval::ChatEvent ev;
          if (st->pending) {
            ev = std::move(*st->pending);
            st->pending.reset();
          } else if (!st->stream->next(ev, kPoll) || Clock::now() > deadline) {
            if (!sink.is_writable()) return false;  // the client went away: the releaser cancels
            if (Clock::now() <= deadline) return true;
            st->stream->cancel();
            st->slot->status = 504;
            ev = eval::ChatEvent::make(eval::ChatEvent::Kind::error, "the request timed out");
          }
          std::string out;
          if (ev.kind == eval::ChatEvent::Kind::text) {
            out = sse(chunk_json(id, created, model, {{"content", ev.text}}, ""));
          } else if (ev.kind == eval::ChatEvent::Kind::done) {
            out = sse(chunk_json(id, created, model, OrderedJson::object(), openai_finish_reason(ev.finish_reason)));
            if (usage) {
              OrderedJson u{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                            {"choices", OrderedJson::array()}, {"usage", usage_json(ev.prompt_tokens, ev.completion_tokens)}};
              out += sse(u);
            }
          } else {
            if (st->slot->status == 200) st->slot->status = 500;
            out = sse(error_json(ApiError(st->slot->status, ev.text, "", "", "server_error")));
          }
          if (ev.kind != eval::ChatEvent::Kind::text) out += "data: [DONE]\n\n";
          if (!sink.write(out.data(), out.size())) return false;
          if (ev.kind != eval::ChatEvent::Kind::text) sink.done();
          return true;
        },
        [st](bool success) {
          if (!success) {
            st->stream->cancel();
            st->slot->status = 499;  // nginx's "client closed request"
          }
        });
  }

  // The client closed its connection: nobody reads the answer, the generation stops.
  void gone(httplib::Response& res, Slot& slot, eval::ChatStream& stream) {
    stream.cancel();
    slot.status = 499;  // nginx's "client closed request"
    error(res, ApiError(499, "the client closed the connection", "", "client_closed", "invalid_request_error"));
  }

  void timeout(httplib::Response& res, Slot& slot, eval::ChatStream& stream) {
    stream.cancel();
    slot.status = 504;
    error(res, ApiError(504, "the request timed out after " + std::to_string(o_.request_timeout_s) + " s", "",
                        "timeout", "server_error"));
  }

  std::string metrics() const { return metrics_.render(engine_.stats()); }
  int64_t in_flight() const { return in_flight_; }
  void drain() { draining_ = true; }

 private:
  eval::ChatEngine& engine_;
  const ServeOptions& o_;
  Metrics metrics_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace

int run_server(eval::ChatEngine& engine, const ServeOptions& o, std::ostream& log,
               const std::function<void(int)>& on_listening) {
  IMP_CHECK_KIND(o.max_concurrent >= 1, ErrorKind::usage, "--max-concurrent must be >= 1");
  IMP_CHECK_KIND(o.request_timeout_s > 0, ErrorKind::usage, "--request-timeout must be > 0");
  Api api(engine, o);
  httplib::Server svr;
  // One pool thread per allowed request plus room for the cheap routes and the 429 answers.
  const size_t threads = static_cast<size_t>(o.max_concurrent) + 16;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // cpp-httplib 0.11 listens with a backlog of 5 and SO_REUSEPORT: a burst of clients then waits a second for a
  // SYN retransmit (or sees a reset), and a second server on the same port would silently share it. Keep the
  // socket with SO_REUSEADDR only and widen the backlog after the bind.
  int listen_fd = -1;
  svr.set_socket_options([&listen_fd](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = sock;
  });
  svr.set_payload_max_length(o.limits.max_body_bytes);
  svr.set_read_timeout(30, 0);
  svr.set_write_timeout(30, 0);

  const std::string page = chat_page_html();
  svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    // The chat page and /health are open; the API needs the key when one is set.
    if (req.path == "/" || req.path == "/health" || api.authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
    send_json(res, 401, error_json(ApiError(401, "invalid or missing API key (Authorization: Bearer ...)", "",
                                            "invalid_api_key", "authentication_error")));
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.Get("/", [&](const httplib::Request&, httplib::Response& res) { res.set_content(page, "text/html; charset=utf-8"); });
  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, OrderedJson{{"status", "ok"}, {"model", engine.model_name()}});
  });
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(api.metrics(), "text/plain; version=0.0.4");
  });
  svr.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, models_json(engine.model_name(), unix_now()));
  });
  svr.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) { api.chat(req, res); });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const int s = res.status;
    const std::string msg = s == 404 ? "no such route" : s == 413 ? "the request body is too large" : "request failed";
    send_json(res, s, error_json(ApiError(s, msg, "", s == 413 ? "body_too_large" : "", s >= 500 ? "server_error" : "invalid_request_error")));
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
    }
    send_json(res, 500, error_json(ApiError(500, msg, "", "internal_error", "server_error")));
  });

  const int port = o.port == 0 ? svr.bind_to_any_port(o.host) : (svr.bind_to_port(o.host, o.port) ? o.port : -1);
  IMP_CHECK_KIND(port > 0, ErrorKind::io, "cannot listen on ", o.host, ":", o.port,
                 " (in use, or not an address of this machine); pick another --port or --host");
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);

  g_signal = 0;
  struct sigaction sa {}, old_term {}, old_int {};
  sa.sa_handler = imp_serve_on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);
  // SIGTERM: new chat requests get 503, in-flight ones finish (a chunked stream would be cut by stop()),
  // then the listener stops.
  std::thread watcher([&] {
    while (!g_signal) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log << "imp serve: signal " << g_signal << ", draining " << api.in_flight() << " request(s)" << std::endl;
    api.drain();
    while (api.in_flight() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    svr.stop();
  });
  log << "imp serve: model " << engine.model_name() << " on http://" << o.host << ":" << port
      << " (OpenAI API at /v1, chat page at /)" << std::endl;
  if (on_listening) on_listening(port);
  const bool ok = svr.listen_after_bind();
  if (!g_signal) g_signal = -1;  // the listener ended by itself: release the watcher
  watcher.join();
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGINT, &old_int, nullptr);
  log << "imp serve: stopped" << std::endl;
  return ok ? 0 : 1;
}

}  // namespace imp::serve
