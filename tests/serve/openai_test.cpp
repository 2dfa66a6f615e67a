// The OpenAI wire format of imp serve: request parsing and content decoding (text, data: URLs, allowed
// server files), the 4xx answer of each kind of bad input, response JSON shapes, metrics text and the
// constant-time key check. Torch-free.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "imp/serve/metrics.h"
#include "imp/serve/openai.h"
#include "run_imp.h"

namespace imp::serve {
namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string base64(const std::string& s) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == s.size()) {
    const uint32_t v = uint8_t(s[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == s.size()) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

const std::string kPng = test::data_path("eval/images/red.png");

std::string data_url(const std::string& bytes) { return "data:image/png;base64," + base64(bytes); }

Json image_part(const std::string& url) { return Json{{"type", "image_url"}, {"image_url", {{"url", url}}}}; }

// The status and param of the ApiError a body raises (0 when it parses).
std::pair<int, std::string> reject(const std::string& body, const RequestLimits& limits = {}) {
  try {
    parse_chat_request(body, limits);
  } catch (const ApiError& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
    return {e.status, e.param};
  }
  return {0, ""};
}

// A body with `messages` (a vector, so that one braced message is not taken for the array itself).
std::string chat(const std::vector<Json>& messages, const Json& extra = Json::object()) {
  Json j = extra;
  j["messages"] = Json(messages);
  return j.dump();
}

TEST(ServeOpenAI, TextAndImagePartsBecomeImpPrompts) {
  const std::string png = file_bytes(kPng);
  const std::vector<Json> msgs = {
      {{"role", "system"}, {"content", "Be brief."}},
      {{"role", "user"}, {"content", Json::array({{{"type", "text"}, {"text", "What colour?"}}, image_part(data_url(png))})}}};
  const auto pc = parse_chat_request(
      chat(msgs, {{"model", "m"}, {"max_tokens", 7}, {"temperature", 0}, {"top_p", 0.5}, {"seed", 3},
                  {"stop", "x"}, {"stream", true}, {"stream_options", {{"include_usage", true}}}}),
      {});
  ASSERT_EQ(pc.request.messages.size(), 2u);
  EXPECT_EQ(pc.request.messages[0].role, "system");
  EXPECT_EQ(pc.request.messages[1].text, "<image>\nWhat colour?");
  ASSERT_EQ(pc.request.images.size(), 1u);
  EXPECT_EQ(pc.request.images[0], png);
  EXPECT_EQ(pc.request.max_tokens, 7);
  EXPECT_EQ(pc.request.temperature, 0.0);
  EXPECT_EQ(pc.request.top_p, 0.5);
  EXPECT_EQ(pc.request.seed, 3u);
  EXPECT_EQ(pc.request.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(pc.stream);
  EXPECT_TRUE(pc.include_usage);
  EXPECT_EQ(pc.model, "m");
}

TEST(ServeOpenAI, DefaultsFollowOpenAI) {
  const auto pc = parse_chat_request(chat({{{"role", "user"}, {"content", "hi"}}}), {});
  EXPECT_EQ(pc.request.max_tokens, 0);  // engine default
  EXPECT_EQ(pc.request.temperature, 1.0);
  EXPECT_EQ(pc.request.top_p, 1.0);
  EXPECT_FALSE(pc.stream);
  // max_completion_tokens is the newer name of max_tokens.
  EXPECT_EQ(parse_chat_request(chat({{{"role", "user"}, {"content", "hi"}}}, {{"max_completion_tokens", 5}}), {})
                .request.max_tokens,
            5);
}

TEST(ServeOpenAI, EachBadInputIsA4xxNamingTheParameter) {
  const Json user = {{"role", "user"}, {"content", "hi"}};
  EXPECT_EQ(reject("{not json").first, 400);
  EXPECT_EQ(reject("[1]").first, 400);
  EXPECT_EQ(reject("{\"messages\":[],\"messages\":[]}").first, 400);  // duplicate key
  EXPECT_EQ(reject("{}").second, "messages");
  EXPECT_EQ(reject(chat({})).second, "messages");
  EXPECT_EQ(reject(chat({{{"role", 3}, {"content", "x"}}})).second, "messages[0].role");
  EXPECT_EQ(reject(chat({{{"role", "tool"}, {"content", "x"}}})).second, "messages[0].role");
  EXPECT_EQ(reject(chat({{{"role", "user"}}})).second, "messages[0].content");
  EXPECT_EQ(reject(chat({{{"role", "user"}, {"content", 5}}})).second, "messages[0].content");
  EXPECT_EQ(reject(chat({{{"role", "user"}, {"content", Json::array({{{"type", "audio"}}})}}})).second,
            "messages[0].content[0].type");
  EXPECT_EQ(reject(chat({{{"role", "user"}, {"content", "an <image> marker"}}})).second, "messages[0].content");
  EXPECT_EQ(reject(chat({{{"role", "assistant"}, {"content", "x"}}, user})).first, 400);   // starts with assistant
  EXPECT_EQ(reject(chat({user, {{"role", "assistant"}, {"content", "x"}}})).second, "messages");  // ends with it
  EXPECT_EQ(reject(chat({user, {{"role", "system"}, {"content", "x"}}, user})).first, 400);  // system not first
  EXPECT_EQ(reject(chat({user}, {{"max_tokens", "10"}})).second, "max_tokens");
  EXPECT_EQ(reject(chat({user}, {{"max_tokens", 0}})).second, "max_tokens");
  EXPECT_EQ(reject(chat({user}, {{"max_tokens", 1 << 30}})).second, "max_tokens");
  EXPECT_EQ(reject(chat({user}, {{"max_tokens", 18446744073709551615ull}})).second, "max_tokens");
  EXPECT_EQ(reject(chat({user}, {{"temperature", 3}})).second, "temperature");
  EXPECT_EQ(reject(chat({user}, {{"temperature", "hot"}})).second, "temperature");
  EXPECT_EQ(reject(chat({user}, {{"top_p", 0}})).second, "top_p");
  EXPECT_EQ(reject(chat({user}, {{"n", 2}})).second, "n");
  EXPECT_EQ(reject(chat({user}, {{"stream", "yes"}})).second, "stream");
  EXPECT_EQ(reject(chat({user}, {{"stop", Json::array({"a", "b", "c", "d", "e"})}})).second, "stop");
  EXPECT_EQ(reject(chat({user}, {{"stop", Json::array({1})}})).second, "stop");
  EXPECT_EQ(reject(chat({user}, {{"stop", ""}})).second, "stop");
  EXPECT_EQ(reject(chat({user}, {{"presence_penalty", 1}})).second, "presence_penalty");
  EXPECT_EQ(reject(chat({user}, {{"tools", Json::array()}})).second, "tools");
  EXPECT_EQ(reject(chat({user}, {{"seed", 1.5}})).second, "seed");
  EXPECT_EQ(reject(chat({user}, {{"stop", std::string(257, 'x')}})).second, "stop");
  EXPECT_FALSE(parse_chat_request(chat({user}), {}).request.seed.has_value());  // unseeded: a random seed
  EXPECT_EQ(reject(chat({user}, {{"model", 1}})).second, "model");
  RequestLimits small;
  small.max_body_bytes = 10;
  EXPECT_EQ(reject(chat({user}), small).first, 413);
  // Unknown fields are ignored, as OpenAI clients add new ones; null means absent.
  EXPECT_EQ(reject(chat({user}, {{"user", "u"}, {"future_field", {1, 2}}, {"max_tokens", nullptr}})).first, 0);
}

TEST(ServeOpenAI, ImagesAreCheckedBeforeTheEngineSeesThem) {
  const std::string png = file_bytes(kPng);
  auto with_image = [](const std::string& url) {
    return chat({{{"role", "user"}, {"content", Json::array({image_part(url), {{"type", "text"}, {"text", "q"}}})}}});
  };
  const std::string param = "messages[0].content[0].image_url.url";
  EXPECT_EQ(reject(with_image("data:image/png;base64,%%%")), std::make_pair(400, param));
  EXPECT_EQ(reject(with_image("data:image/png,rawbytes")).first, 400);
  EXPECT_EQ(reject(with_image("data:text/plain;base64,aGk=")).first, 400);
  EXPECT_EQ(reject(with_image("https://example.com/a.png")).first, 400);
  EXPECT_EQ(reject(with_image("relative.png")).first, 400);
  EXPECT_EQ(reject(with_image(data_url(""))).first, 400);
#ifdef IMP_WITH_OPENCV
  EXPECT_EQ(reject(with_image(data_url("not an image at all"))).first, 400);  // corrupt
  EXPECT_EQ(reject(with_image(data_url(png.substr(0, 20)))).first, 400);     // truncated header
  RequestLimits few_pixels;
  few_pixels.max_image_pixels = 10;  // red.png is larger
  EXPECT_EQ(reject(with_image(data_url(png)), few_pixels).first, 400);
#endif
  RequestLimits few_bytes;
  few_bytes.max_image_bytes = png.size() - 1;
  EXPECT_EQ(reject(with_image(data_url(png)), few_bytes).first, 413);
  RequestLimits one;
  one.max_images = 1;
  const Json two = Json::array({image_part(data_url(png)), image_part(data_url(png))});
  EXPECT_EQ(reject(chat({{{"role", "user"}, {"content", two}}}), one).first, 400);
  // Images only in user messages.
  EXPECT_EQ(reject(chat({{{"role", "system"}, {"content", Json::array({image_part(data_url(png))})}},
                         {{"role", "user"}, {"content", "q"}}}))
                .first,
            400);
}

TEST(ServeOpenAI, ServerFilesOnlyInsideTheAllowedFolder) {
  const std::string dir = test::data_path("eval/images");
  RequestLimits allowed;
  allowed.allowed_image_dir = dir;
  EXPECT_EQ(load_image_url("file://" + kPng, allowed), file_bytes(kPng));
  EXPECT_EQ(load_image_url(kPng, allowed), file_bytes(kPng));
  auto status = [&](const std::string& url, const RequestLimits& l) {
    try {
      load_image_url(url, l);
    } catch (const ApiError& e) {
      return e.status;
    }
    return 0;
  };
  EXPECT_EQ(status(kPng, RequestLimits{}), 400);                                  // disabled by default
  EXPECT_EQ(status(dir + "/../questions.jsonl", allowed), 403);                   // ".." out of the folder
  EXPECT_EQ(status(test::data_path("eval/questions.jsonl"), allowed), 403);
  EXPECT_EQ(status(dir + "/missing.png", allowed), 403);                          // realpath fails: refused
  RequestLimits prefix = allowed;                                                 // "/images2" is not "/images/"
  prefix.allowed_image_dir = dir.substr(0, dir.size() - 1);
  EXPECT_EQ(status(kPng, prefix), 403);
  // A symbolic link inside the folder that points out of it is refused too.
  const std::string link = ::testing::TempDir() + "imp_serve_link";
  ::unlink(link.c_str());
  ASSERT_EQ(::symlink(test::data_path("eval/questions.jsonl").c_str(), link.c_str()), 0);
  RequestLimits tmp;
  tmp.allowed_image_dir = ::testing::TempDir();
  EXPECT_EQ(status(link, tmp), 403);
  ::unlink(link.c_str());
}

TEST(ServeOpenAI, ResponseShapes) {
  const auto c = completion_json("id1", 5, "m", "hi", "stop", 3, 2);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(c["usage"]["total_tokens"], 5);
  const auto k = chunk_json("id1", 5, "m", {{"content", "x"}}, "");
  EXPECT_EQ(k["object"], "chat.completion.chunk");
  EXPECT_TRUE(k["choices"][0]["finish_reason"].is_null());
  const auto e = error_json(ApiError(400, "bad", "messages", "invalid_value"));
  EXPECT_EQ(e["error"]["message"], "bad");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "messages");
  EXPECT_EQ(models_json("m", 1)["data"][0]["id"], "m");
  EXPECT_EQ(openai_finish_reason("length"), "length");
  EXPECT_EQ(openai_finish_reason("stop"), "stop");
}

TEST(ServeOpenAI, ConstantTimeKeyCheck) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "secret"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(ServeMetrics, PrometheusText) {
  Metrics m;
  m.request_done(200, 0.07);
  m.request_done(200, 3.0);
  m.request_done(429, 0);
  m.add_in_flight(3);
  m.add_in_flight(-1);
  eval::EngineStats st;
  st.queued = 4;
  st.completion_tokens = 50;
  st.busy_seconds = 2;
  const std::string t = m.render(st);
  EXPECT_NE(t.find("imp_requests_total{status=\"200\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("imp_requests_total{status=\"429\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("imp_queue_depth 4\n"), std::string::npos);
  EXPECT_NE(t.find("imp_requests_in_flight 2\n"), std::string::npos);
  EXPECT_NE(t.find("imp_generation_tokens_per_second 25\n"), std::string::npos);
  EXPECT_NE(t.find("imp_request_duration_seconds_bucket{le=\"0.05\"} 1\n"), std::string::npos);  // the 429
  EXPECT_NE(t.find("imp_request_duration_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("imp_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("imp_request_duration_seconds_count 3\n"), std::string::npos);
}

}  // namespace
}  // namespace imp::serve
