// The continuous-batching chat engine on a tiny random model: requests that join a running batch at
// different moments (so their caches have different lengths) produce exactly the greedy tokens of a
// batch-1 Generator run; cancelling stops a request; bad requests are errors marked bad_request, answered
// by submit() itself; a row whose sampling fails fails alone; the engine's DecodeBatch keep/append pieces
// leave the remaining rows' logits unchanged.
#include <gtest/gtest.h>

#include <fstream>

#include "../eval/eval_test_utils.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/eval/chat_engine.h"
#include "imp/eval/generate.h"

namespace imp::test {
namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct Result {
  std::string text, reason, error;
  int64_t completion_tokens = -1, prompt_tokens = -1;
  bool bad_request = false;
};

Result collect(eval::ChatStream& s) {
  Result r;
  eval::ChatEvent ev;
  for (;;) {
    EXPECT_TRUE(s.next(ev, std::chrono::seconds(120))) << "no event within 2 minutes";
    if (ev.kind == eval::ChatEvent::Kind::text) {
      r.text += ev.text;
      continue;
    }
    if (ev.kind == eval::ChatEvent::Kind::done) {
      r.reason = ev.finish_reason;
      r.completion_tokens = ev.completion_tokens;
      r.prompt_tokens = ev.prompt_tokens;
    } else {
      r.error = ev.text;
      r.bad_request = ev.bad_request;
    }
    return r;
  }
}

eval::ChatEngineOptions engine_options(int64_t max_batch) {
  eval::ChatEngineOptions o;
  o.model = model_dir("gen_phi2");
  o.device = "cpu";
  o.dtype = "float32";
  o.max_batch = max_batch;
  return o;
}

eval::ChatRequest request(const std::string& question, bool image, int64_t max_tokens) {
  eval::ChatRequest r;
  r.messages = {{"user", (image ? "<image>\n" : "") + question}};
  if (image) r.images = {file_bytes(data_path("eval/images/red.png"))};
  r.max_tokens = max_tokens;
  return r;
}

// What `imp generate` computes for the same request: batch 1, greedy, EOS and the template's end marker.
eval::Generation reference(const eval::Session& s, const eval::ChatRequest& r) {
  const auto& t = data::get_template("phi2");
  eval::Prompt p;
  p.input_ids = data::tokenizer_image_token(data::render(t, {r.messages[0].text, ""}), *s.tokenizer);
  if (!r.images.empty()) p.pixels = s.pixels_from_bytes(r.images[0], "test image");
  eval::GenerationConfig cfg;
  cfg.max_new_tokens = r.max_tokens;
  cfg.eos_ids = s.ids.eos;
  cfg.stop_strings = {t.sep2};
  return eval::Generator(*s.model, *s.tokenizer).generate({p}, cfg)[0];
}

TEST(ChatEngine, RequestsJoiningARunningBatchMatchBatchOne) {
  const auto s = open_gen_model("phi2");
  auto engine = eval::open_chat_engine(engine_options(4));
  EXPECT_EQ(engine->model_name(), "gen_phi2");
  EXPECT_EQ(engine->context_length(), 512);
  const std::vector<eval::ChatRequest> reqs = {request("What colour is the shape?", true, 24),
                                               request("Name one animal.", false, 9),
                                               request("Describe the picture in detail please.", true, 16),
                                               request("Count to three.", false, 30)};
  // The first request starts alone; the others join while it decodes (different cache lengths).
  auto first = engine->submit(reqs[0]);
  eval::ChatEvent ev;
  while (engine->stats().completion_tokens == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<std::shared_ptr<eval::ChatStream>> streams = {first};
  for (size_t i = 1; i < reqs.size(); ++i) streams.push_back(engine->submit(reqs[i]));
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Result got = collect(*streams[i]);
    const auto want = reference(s, reqs[i]);
    ASSERT_TRUE(got.error.empty()) << got.error;
    EXPECT_EQ(got.completion_tokens, static_cast<int64_t>(want.ids.size())) << "request " << i;
    EXPECT_EQ(eval::strip(got.text), want.text) << "request " << i;
    EXPECT_EQ(got.reason, want.reason == eval::StopReason::length ? "length" : "stop") << "request " << i;
  }
  const auto st = engine->stats();
  EXPECT_EQ(st.queued, 0);
  EXPECT_GT(st.prompt_tokens, 0);
}

TEST(ChatEngine, MoreRequestsThanRowsWaitInTheQueue) {
  const auto s = open_gen_model("phi2");
  auto engine = eval::open_chat_engine(engine_options(2));
  std::vector<std::shared_ptr<eval::ChatStream>> streams;
  std::vector<eval::ChatRequest> reqs;
  for (int i = 0; i < 5; ++i) reqs.push_back(request("Question number " + std::to_string(i), i % 2 == 0, 6 + i));
  for (const auto& r : reqs) streams.push_back(engine->submit(r));
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Result got = collect(*streams[i]);
    ASSERT_TRUE(got.error.empty()) << got.error;
    EXPECT_EQ(eval::strip(got.text), reference(s, reqs[i]).text) << "request " << i;
  }
}

TEST(ChatEngine, CancelStopsAtAStepBoundary) {
  auto engine = eval::open_chat_engine(engine_options(4));
  auto long_one = engine->submit(request("hello hello hello", false, 400));
  while (engine->stats().completion_tokens < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  long_one->cancel();
  const Result r = collect(*long_one);
  EXPECT_EQ(r.reason, "cancelled");
  EXPECT_LT(r.completion_tokens, 400);
  // The engine goes on serving.
  const Result next = collect(*engine->submit(request("Hello?", false, 3)));
  EXPECT_TRUE(next.error.empty()) << next.error;
}

TEST(ChatEngine, BadRequestsAreErrorsAndTheEngineGoesOn) {
  auto engine = eval::open_chat_engine(engine_options(4));
  auto expect_bad = [&](eval::ChatRequest r, const std::string& what) {
    // Prepared on this thread: the error is there when submit() returns, nothing was queued.
    auto stream = engine->submit(std::move(r));
    eval::ChatEvent ev;
    ASSERT_TRUE(stream->next(ev, std::chrono::milliseconds(0))) << what << ": no answer from submit()";
    EXPECT_EQ(engine->stats().queued, 0);
    EXPECT_TRUE(ev.kind == eval::ChatEvent::Kind::error && ev.bad_request) << what;
    EXPECT_NE(ev.text.find(what), std::string::npos) << ev.text;
  };
  expect_bad(request("q", false, 600), "maximum context length is 512");
  auto corrupt = request("q", true, 4);
  corrupt.images[0] = "garbage";
  expect_bad(corrupt, "image 1");
  auto missing = request("q", true, 4);
  missing.images.clear();
  expect_bad(missing, "images");
  auto order = request("q", false, 4);
  order.messages.push_back({"assistant", "a"});
  expect_bad(order, "last message");
  const Result ok = collect(*engine->submit(request("q", false, 3)));
  EXPECT_TRUE(ok.error.empty()) << ok.error;
  EXPECT_EQ(ok.completion_tokens, 3);
  EXPECT_EQ(ok.reason, "length");
}

// Nothing follows a request's done or error event.
void expect_no_more_events(eval::ChatStream& s, const std::string& what) {
  eval::ChatEvent ev;
  EXPECT_FALSE(s.next(ev, std::chrono::milliseconds(200))) << what << ": an event after the final one: " << ev.text;
}

TEST(ChatEngine, ARowWhoseSamplingFailsFailsAlone) {
  const auto s = open_gen_model("phi2");
  ::setenv("IMP_FAULT", "sample_fail:424242", 1);  // read when the engine opens
  struct Unset {
    ~Unset() { ::unsetenv("IMP_FAULT"); }
  } unset;
  auto engine = eval::open_chat_engine(engine_options(4));
  // `running` decodes while the others join; `one` ends at its first token, in the step where `broken` fails
  // when both join together; `broken` samples with the seed the fault hook fails on its first token.
  const auto running = request("hello hello hello", false, 120), one = request("Name one animal.", false, 1);
  auto broken = request("Say something.", false, 8);
  broken.temperature = 0.7;
  broken.seed = 424242;
  auto s_running = engine->submit(running);
  while (engine->stats().completion_tokens == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto s_one = engine->submit(one), s_broken = engine->submit(broken);
  const Result r_broken = collect(*s_broken), r_one = collect(*s_one), r_running = collect(*s_running);
  EXPECT_NE(r_broken.error.find("generation failed"), std::string::npos) << "error: '" << r_broken.error << "'";
  EXPECT_FALSE(r_broken.bad_request);
  ASSERT_TRUE(r_one.error.empty()) << r_one.error;
  EXPECT_EQ(eval::strip(r_one.text), reference(s, one).text);
  ASSERT_TRUE(r_running.error.empty()) << r_running.error;
  const auto want = reference(s, running);
  EXPECT_EQ(r_running.completion_tokens, static_cast<int64_t>(want.ids.size()));
  EXPECT_EQ(eval::strip(r_running.text), want.text);
  expect_no_more_events(*s_one, "the finished request");
  expect_no_more_events(*s_broken, "the failed request");
  // The engine goes on serving.
  const Result next = collect(*engine->submit(request("Hello?", false, 3)));
  EXPECT_TRUE(next.error.empty()) << next.error;
  EXPECT_EQ(next.completion_tokens, 3);
}

TEST(ChatEngine, SeededSamplingRepeats) {
  auto engine = eval::open_chat_engine(engine_options(4));
  auto r = request("Say something.", false, 12);
  r.temperature = 1.0;
  r.seed = 7;
  auto a = engine->submit(r), b = engine->submit(r);
  const Result ra = collect(*a), rb = collect(*b);
  EXPECT_EQ(ra.text, rb.text);
  EXPECT_EQ(ra.completion_tokens, rb.completion_tokens);
}

// A temperature too small to divide by (logits / 1e-45 overflow) decodes greedily, as vLLM does below 1e-5.
TEST(ChatEngine, TinyTemperatureIsGreedy) {
  const auto s = open_gen_model("phi2");
  auto engine = eval::open_chat_engine(engine_options(4));
  for (const double t : {1e-45, 1e-6}) {
    auto r = request("Name one animal.", false, 6);
    r.temperature = t;
    r.seed = 3;
    const Result got = collect(*engine->submit(r));
    ASSERT_TRUE(got.error.empty()) << "temperature " << t << ": " << got.error;
    EXPECT_EQ(eval::strip(got.text), reference(s, r).text) << "temperature " << t;
  }
}

TEST(DecodeBatch, KeepAndAppendLeaveRowsUnchanged) {
  auto s = open_gen_model("phi2");
  auto ids = [&](const std::string& q) {
    eval::Prompt p;
    p.input_ids = data::tokenizer_image_token(data::render(data::get_template("phi2"), {q, ""}), *s.tokenizer);
    return p;
  };
  const eval::Prompt a = ids("A much longer first question with many words in it"), b = ids("Short?");
  auto both = eval::DecodeBatch::prefill(*s.model, {a, b});
  auto only_b = eval::DecodeBatch::prefill(*s.model, {b});
  // b alone and b after a's row left: the padding columns are dropped, the logits agree.
  both.keep({1});
  EXPECT_EQ(both.mask.size(1), only_b.mask.size(1));
  EXPECT_TRUE(check_close(both.logits, only_b.logits, 1e-4, "b after a left"));
  both.step(*s.model->lm, {7});
  only_b.step(*s.model->lm, {7});
  EXPECT_TRUE(check_close(both.logits, only_b.logits, 1e-4, "b after a left"));
  // a joining b's batch: a's row equals a alone after one more step each.
  auto only_a = eval::DecodeBatch::prefill(*s.model, {a});
  auto joined = std::move(only_b);
  joined.append(eval::DecodeBatch::prefill(*s.model, {a}));
  ASSERT_EQ(joined.rows(), 2);
  joined.step(*s.model->lm, {9, 11});
  only_a.step(*s.model->lm, {11});
  EXPECT_TRUE(check_close(joined.logits.slice(0, 1, 2), only_a.logits, 1e-4, "a joined to b"));
}

}  // namespace
}  // namespace imp::test
