// The chat generation engine behind `imp serve` and `imp chat`: submit a conversation, read its tokens as
// they come, cancel it. Torch-free, so the HTTP layer (serve/) and its fuzzers never see a model.
// open_chat_engine (eval/chat_engine.cpp) runs one worker thread that decodes all requests in one batch
// with a KV cache: a request joins the running batch after its prefill, at a step boundary, and leaves it
// when it stops or is cancelled (continuous batching).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace imp::eval {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string text;  // "<image>" marks where each of the request's images goes, in order
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  std::vector<std::string> images;  // encoded image files (PNG, JPEG, BMP, WebP), one per "<image>"
  int64_t max_tokens = 0;            // 0: min(default_max_tokens, the room the context leaves)
  int64_t default_max_tokens = 256;
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;
  std::optional<uint64_t> seed;   // sampling; unset: a fresh random seed per request
  std::vector<std::string> stop;  // besides the template's end marker
};

// What a request produces, in order: text pieces, then one `done` (or one `error`).
struct ChatEvent {
  enum class Kind { text, done, error } kind = Kind::text;
  std::string text;             // text: the new piece; error: the message
  std::string finish_reason;    // done: "stop" | "length" | "cancelled"
  int64_t prompt_tokens = 0;    // done: after the image splice
  int64_t completion_tokens = 0;
  bool bad_request = false;     // error: the request itself is at fault (HTTP 400), else a server error

  static ChatEvent make(Kind k, std::string text = "") {
    ChatEvent e;
    e.kind = k;
    e.text = std::move(text);
    return e;
  }
};

// One request's channel between the engine thread (push) and its reader (next, cancel).
class ChatStream {
 public:
  // Waits up to `timeout` for the next event; false on timeout.
  bool next(ChatEvent& ev, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
    ev = std::move(events_.front());
    events_.pop_front();
    return true;
  }
  // The engine drops the request at its next step boundary and pushes done("cancelled").
  void cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  void push(ChatEvent ev) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(ev));
    }
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChatEvent> events_;
  bool cancelled_ = false;
};

struct EngineStats {
  int64_t queued = 0;    // submitted, not yet in the batch
  int64_t running = 0;   // rows of the running batch
  int64_t prompt_tokens = 0, completion_tokens = 0;  // totals since start
  double busy_seconds = 0;  // time spent decoding (tokens/s = completion_tokens / busy_seconds)
};

class ChatEngine {
 public:
  virtual ~ChatEngine() = default;
  // Prepares the request on the calling thread (chat template, tokens, image decoding: a bad request's
  // error is its stream's only event) and queues it for the engine thread, which only runs model steps.
  virtual std::shared_ptr<ChatStream> submit(ChatRequest request) = 0;
  virtual std::string model_name() const = 0;
  virtual int64_t context_length() const = 0;
  virtual EngineStats stats() const = 0;
};

struct ChatEngineOptions {
  std::string model;  // model directory
  std::string lora;   // optional PEFT adapter merged on top of `model`
  std::string device = "auto", dtype = "auto", attn_implementation = "eager";
  std::string conv_mode;     // empty: the decoder's template
  std::string name;          // model name reported to clients (default: the directory's name)
  int64_t max_batch = 16;    // rows decoded together; more requests wait in the queue
  int64_t top_k = 0;         // sampling only; 0 = off (OpenAI has no top_k)
};

std::unique_ptr<ChatEngine> open_chat_engine(const ChatEngineOptions& o);

}  // namespace imp::eval
