// The continuous-batching chat engine; see chat_engine.h. submit() prepares a request on the caller's thread
// (template, tokens, image decoding and pixels), so the worker thread, which owns the model, only runs the
// batched steps: it prefills queued requests together, joins them to the running DecodeBatch, samples one
// token per row with the row's own settings, streams the new text and drops finished, failed or cancelled
// rows before the next decoding step.
#include "imp/eval/chat_engine.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <random>
#include <thread>

#include "imp/core/error.h"
#include "imp/core/fault.h"
#include "imp/core/fs.h"
#include "imp/core/dtype.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/eval/generate.h"
#include "imp/eval/session.h"

namespace imp::eval {
namespace {

// The template with an OpenAI system message in place of the default one.
data::Template with_system(data::Template t, const std::string& system) {
  switch (t.style) {
    case data::Style::two: t.system = system; break;
    case data::Style::qwen2: t.system = "<|im_start|>system\n" + system; break;
    case data::Style::phi3: t.system = "<|system|>\n" + system; break;
    case data::Style::plain: break;
  }
  return t;
}

// messages -> prompt text: an optional leading system message, then user/assistant turns (consecutive
// messages of one role joined by "\n") ending with a user turn, rendered with the generation prompt.
std::string render_chat(const data::Template& base, const std::vector<ChatMessage>& messages) {
  data::Template t = base;
  std::vector<std::string> turns;
  std::string last_role;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (m.role == "system") {
      if (i != 0) throw Error("a system message must come first", ErrorKind::usage);
      t = with_system(base, m.text);
      continue;
    }
    if (m.role != "user" && m.role != "assistant")
      throw Error("unknown role '" + m.role + "'; expected system, user or assistant", ErrorKind::usage);
    if (m.role == last_role) {
      turns.back() += "\n" + m.text;
      continue;
    }
    if (turns.empty() && m.role != "user")
      throw Error("the conversation must start with a user message (after an optional system message)",
                  ErrorKind::usage);
    turns.push_back(m.text);
    last_role = m.role;
  }
  if (last_role != "user") throw Error("the last message must come from the user", ErrorKind::usage);
  turns.push_back("");
  return data::render(t, turns);
}

// The longest suffix of `text` that is a proper prefix of a stop string (held back while streaming).
size_t stop_prefix_len(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const auto& s : stops)
    for (size_t n = s.empty() ? 0 : std::min(s.size() - 1, text.size()); n > best; --n)
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        best = n;
        break;
      }
  return best;
}

struct Row {
  std::shared_ptr<ChatStream> out;
  GenerationConfig cfg;
  KeywordStop end_marker;
  std::optional<at::Generator> rng;
  std::vector<int64_t> ids;
  std::unique_ptr<TextStream> stream;
  std::string text;  // decoded so far, leading whitespace dropped
  size_t sent = 0;   // bytes of `text` pushed
  int64_t prompt_tokens = 0;
};

struct Pending {
  Prompt prompt;
  Row row;
};

class BatchChatEngine final : public ChatEngine {
 public:
  explicit BatchChatEngine(const ChatEngineOptions& o) : opts_(o) {
    SessionOptions so;
    so.model_path = o.lora.empty() ? o.model : o.lora;
    so.model_base = o.lora.empty() ? "" : o.model;
    so.device = o.device;
    so.dtype = o.dtype;
    so.attn_implementation = o.attn_implementation;
    s_ = Session::open(so);
    tmpl_ = data::get_template(o.conv_mode.empty() ? default_conv_mode(s_.arch) : o.conv_mode);
    name_ = o.name.empty() ? base_name(o.model) : o.name;
    const auto& cfg = s_.model->config();
    context_ = cfg.text.max_position_embeddings;
    if (cfg.tokenizer_model_max_length) context_ = std::min(context_, *cfg.tokenizer_model_max_length);
    patches_ = s_.model->projector ? cfg.vision.num_patches() : 0;
    IMP_CHECK_KIND(o.max_batch >= 1, ErrorKind::usage, "the batch size must be >= 1, got ", o.max_batch);
    worker_ = std::thread([this] { loop(); });
  }

  // Finishes the queued and running requests (the drain of a SIGTERM), then stops the worker.
  ~BatchChatEngine() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  std::shared_ptr<ChatStream> submit(ChatRequest request) override {
    auto out = std::make_shared<ChatStream>();
    Pending p;
    try {
      build(request, p.prompt, p.row);
    } catch (const Error& e) {
      fail(out, e.what(), e.kind() != ErrorKind::internal);
      return out;
    } catch (const std::exception& e) {
      fail(out, e.what(), false);
      return out;
    }
    p.row.out = out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(p));
    }
    cv_.notify_all();
    return out;
  }
  std::string model_name() const override { return name_; }
  int64_t context_length() const override { return context_; }
  EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    EngineStats st = stats_;
    st.queued = static_cast<int64_t>(queue_.size());
    return st;
  }

 private:
  void loop() {
    for (;;) {
      std::vector<Pending> admit;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !rows_.empty(); });
        if (queue_.empty() && rows_.empty()) return;  // stopping with nothing left
        while (!queue_.empty() && static_cast<int64_t>(rows_.size() + admit.size()) < opts_.max_batch) {
          admit.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      const auto t0 = std::chrono::steady_clock::now();
      try {
        if (!admit.empty()) join(admit);
        if (!rows_.empty()) step();
      } catch (const std::exception& e) {
        // A batched step failed: its rows (rows_ holds only rows without a final event) fail, the engine goes on.
        for (auto& r : rows_) fail(r.out, std::string("generation failed: ") + e.what(), false);
        rows_.clear();
        batch_ = DecodeBatch();
      }
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard<std::mutex> lock(mu_);
      stats_.busy_seconds += dt;
      stats_.running = static_cast<int64_t>(rows_.size());
    }
  }

  static void fail(const std::shared_ptr<ChatStream>& out, const std::string& msg, bool bad_request) {
    ChatEvent ev = ChatEvent::make(ChatEvent::Kind::error, msg);
    ev.bad_request = bad_request;
    out->push(std::move(ev));
  }

  // Prefills newly admitted requests together into the running batch.
  void join(std::vector<Pending>& admit) {
    std::vector<Prompt> prompts;
    std::vector<Row> rows;
    for (auto& p : admit) {
      if (p.row.out->cancelled()) {
        finish(p.row, "cancelled");
        continue;
      }
      prompts.push_back(std::move(p.prompt));
      rows.push_back(std::move(p.row));
    }
    if (prompts.empty()) return;
    try {
      batch_.append(DecodeBatch::prefill(*s_.model, prompts));
    } catch (const std::exception& e) {
      for (auto& r : rows) fail(r.out, std::string("prefill failed: ") + e.what(), false);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : rows) {
      stats_.prompt_tokens += r.prompt_tokens;
      rows_.push_back(std::move(r));
    }
  }

  // A request's prompt and row, or a usage Error for a bad request. Runs on submit()'s thread: it reads only
  // what the constructor set (the tokenizer is thread-safe).
  void build(const ChatRequest& req, Prompt& prompt, Row& row) const {
    const std::string text = render_chat(tmpl_, req.messages);
    prompt.input_ids = data::tokenizer_image_token(text, *s_.tokenizer);
    const auto n_images = static_cast<size_t>(std::count(prompt.input_ids.begin(), prompt.input_ids.end(), kImageTokenIndex));
    IMP_CHECK_KIND(n_images == req.images.size(), ErrorKind::usage, "the messages mark ", n_images,
                   " images but the request has ", req.images.size());
    IMP_CHECK_KIND(n_images == 0 || patches_ > 0, ErrorKind::usage, "model '", name_,
                   "' has no vision tower; send text only");
    std::vector<torch::Tensor> pixels;
    for (size_t i = 0; i < req.images.size(); ++i)
      pixels.push_back(s_.pixels_from_bytes(req.images[i], "image " + std::to_string(i + 1)));
    if (!pixels.empty()) prompt.pixels = torch::cat(pixels);
    row.prompt_tokens = static_cast<int64_t>(prompt.input_ids.size() - n_images) +
                        static_cast<int64_t>(n_images) * patches_;
    const int64_t room = context_ - row.prompt_tokens;
    const int64_t max_tokens = req.max_tokens > 0 ? req.max_tokens : std::min(req.default_max_tokens, room);
    IMP_CHECK_KIND(max_tokens >= 1 && max_tokens <= room, ErrorKind::usage, "this model's maximum context length is ",
                   context_, " tokens, but ", row.prompt_tokens + std::max<int64_t>(max_tokens, 1),
                   " were requested (", row.prompt_tokens, " in the messages, ", std::max<int64_t>(max_tokens, 1),
                   " in the completion); shorten the messages or max_tokens");
    row.cfg.max_new_tokens = max_tokens;
    row.cfg.temperature = req.temperature;
    row.cfg.top_p = req.top_p;
    row.cfg.top_k = opts_.top_k;
    row.cfg.seed = req.seed ? *req.seed : std::random_device{}();
    row.cfg.eos_ids = s_.ids.eos;
    // The template's end marker stops like in `imp generate`: by ids (a special token) or as text.
    const std::string marker = tmpl_.sep2.empty() ? "</s>" : tmpl_.sep2;
    row.end_marker = KeywordStop({marker}, *s_.tokenizer);
    row.cfg.stop_strings = req.stop;
    row.cfg.stop_strings.push_back(marker);
    if (row.cfg.sampling()) row.rng = at::make_generator<at::CPUGeneratorImpl>(row.cfg.seed);
    row.stream = std::make_unique<TextStream>(*s_.tokenizer);
  }

  // One token per row; finished rows leave the batch, the others are fed their token. A row whose own work
  // fails (sampling, text decoding) gets the error alone; the batched forward failing fails the rows it had.
  void step() {
    torch::NoGradGuard no_grad;
    auto greedy = batch_.logits.argmax(-1).to(torch::kCPU);
    std::vector<int64_t> next(greedy.data_ptr<int64_t>(), greedy.data_ptr<int64_t>() + greedy.numel());
    std::vector<int64_t> keep, tokens;
    int64_t produced = 0;
    for (size_t r = 0; r < rows_.size(); ++r) {
      try {
        if (!advance(rows_[r], static_cast<int64_t>(r), next[r], produced)) continue;
      } catch (const std::exception& e) {
        fail(rows_[r].out, std::string("generation failed: ") + e.what(), false);
        continue;
      }
      keep.push_back(static_cast<int64_t>(r));
      tokens.push_back(next[r]);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.completion_tokens += produced;
    }
    if (keep.size() != rows_.size()) {
      std::vector<Row> kept;
      for (int64_t r : keep) kept.push_back(std::move(rows_[r]));
      rows_ = std::move(kept);
      batch_.keep(keep);
    }
    if (!rows_.empty()) batch_.step(*s_.model->lm, tokens);
  }

  // Row r's next token (`next` holds its greedy choice): streams its text; false when the row has ended
  // (its done event pushed).
  bool advance(Row& row, int64_t r, int64_t& next, int64_t& produced) {
    if (row.out->cancelled()) {
      finish(row, "cancelled");
      return false;
    }
    if (row.rng) {
      if (!fail_seed_.empty() && fail_seed_ == std::to_string(row.cfg.seed))
        IMP_FAIL("IMP_FAULT: sampling failed for seed ", row.cfg.seed);
      auto probs = warp_logits(batch_.logits.slice(0, r, r + 1), row.cfg).softmax(-1).to(torch::kCPU);
      next = torch::multinomial(probs, 1, /*replacement=*/false, *row.rng).item<int64_t>();
    }
    row.ids.push_back(next);
    ++produced;
    const auto& eos = row.cfg.eos_ids;
    const bool ended = std::find(eos.begin(), eos.end(), next) != eos.end() || row.end_marker.hit(row.ids, *s_.tokenizer);
    const bool stopped = ended ? false : emit(row, false);
    if (ended || stopped) {
      if (ended) emit(row, true);
      finish(row, "stop");
      return false;
    }
    if (static_cast<int64_t>(row.ids.size()) >= row.cfg.max_new_tokens) {
      emit(row, true);
      finish(row, "length");
      return false;
    }
    return true;
  }

  // Pushes the text not sent yet, holding back what may be the start of a stop string; true when a stop
  // string was found (the text before it is sent, the stop string is not).
  static bool emit(Row& row, bool final) {
    std::string piece = row.stream->next(row.ids, final);
    if (row.text.empty()) piece.erase(0, std::min(piece.size(), piece.find_first_not_of(" \t\n\r")));
    row.text += piece;
    const auto& stops = row.cfg.stop_strings;
    size_t end = row.text.size();
    bool hit = false;
    for (const auto& s : stops) {
      if (s.empty()) continue;
      const size_t from = row.sent >= s.size() ? row.sent - s.size() + 1 : 0;
      const size_t at = row.text.find(s, from);
      if (at != std::string::npos && at < end) {
        end = at;
        hit = true;
      }
    }
    if (!hit && !final) end -= stop_prefix_len(row.text, stops);
    if (end > row.sent) {
      row.out->push(ChatEvent::make(ChatEvent::Kind::text, row.text.substr(row.sent, end - row.sent)));
      row.sent = end;
    }
    return hit;
  }

  static void finish(Row& row, const char* reason) {
    ChatEvent ev = ChatEvent::make(ChatEvent::Kind::done);
    ev.finish_reason = reason;
    ev.prompt_tokens = row.prompt_tokens;
    ev.completion_tokens = static_cast<int64_t>(row.ids.size());
    row.out->push(std::move(ev));
  }

  ChatEngineOptions opts_;
  Session s_;
  data::Template tmpl_;
  std::string name_;
  int64_t context_ = 0, patches_ = 0;
  // Fault hook for the failure-isolation test, read when the engine opens: IMP_FAULT=sample_fail:<seed> makes
  // drawing a token fail for rows sampled with that seed (tiny temperatures decode greedily, so a sampling
  // failure cannot be provoked otherwise).
  const std::string fail_seed_ = fault_argument("sample_fail");
  DecodeBatch batch_;     // worker thread only
  std::vector<Row> rows_;  // worker thread only (read for stats under mu_)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  EngineStats stats_;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<ChatEngine> open_chat_engine(const ChatEngineOptions& o) {
  return std::make_unique<BatchChatEngine>(o);
}

}  // namespace imp::eval
