// Generation against HF greedy goldens (scripts/make_eval_fixtures.py): prompt ids, new tokens and text
// per decoder, batch 1 and batched with left padding; stop rules and sampling warpers.
#include <gtest/gtest.h>

#include "eval_test_utils.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/eval/generate.h"

namespace imp::test {
namespace {

struct Case {
  eval::Prompt prompt;
  Json golden;
};

std::string strip_copy(const std::string& t) { return eval::strip(t); }

std::string loader_keyword(const std::string& dec) {
  return dec == "phi2" ? "</s>" : dec == "qwen2" ? "<|im_end|>" : "<|end|>";
}

std::vector<Case> load_cases(const eval::Session& s, const std::string& dec) {
  const auto golden = read_jsonl(data_path("golden/generate_" + dec + ".jsonl"));
  const auto questions = read_jsonl(data_path("eval/questions.jsonl"));
  EXPECT_EQ(golden.size(), questions.size());
  std::vector<Case> out;
  for (size_t i = 0; i < golden.size(); ++i) {
    const std::string qs = "<image>\n" + questions[i]["text"].get<std::string>();
    const std::string prompt = data::render(data::get_template(dec), {qs, ""});
    Case c;
    c.prompt.input_ids = data::tokenizer_image_token(prompt, *s.tokenizer);
    EXPECT_EQ(c.prompt.input_ids, golden[i]["input_ids"].get<std::vector<int64_t>>()) << dec << " prompt " << i;
    c.prompt.pixels = s.pixels_from_file(data_path("eval/images/" + questions[i]["image"].get<std::string>()));
    c.golden = golden[i];
    out.push_back(std::move(c));
  }
  return out;
}

eval::GenerationConfig greedy(const eval::Session& s, const std::string& dec) {
  eval::GenerationConfig g;
  g.max_new_tokens = 16;
  g.eos_ids = s.ids.eos;
  g.stop_strings = {loader_keyword(dec)};
  return g;
}

void expect_golden(const eval::Generation& g, const Json& golden, const std::string& label) {
  EXPECT_EQ(g.ids, golden["new_ids"].get<std::vector<int64_t>>()) << label;
  EXPECT_EQ(g.text, golden["text"].get<std::string>()) << label;
  const std::string reason = golden["stopped"];
  EXPECT_EQ(g.reason == eval::StopReason::eos, reason == "eos") << label;
}

class GenerateGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerateGolden, Batch1MatchesHF) {
  const std::string dec = GetParam();
  auto s = open_gen_model(dec);
  const auto cases = load_cases(s, dec);
  eval::Generator gen(*s.model, *s.tokenizer);
  for (size_t i = 0; i < cases.size(); ++i) {
    auto out = gen.generate({cases[i].prompt}, greedy(s, dec));
    ASSERT_EQ(out.size(), 1u);
    expect_golden(out[0], cases[i].golden, dec + " question " + std::to_string(i));
  }
}

TEST_P(GenerateGolden, BatchedLeftPaddedMatchesHF) {
  const std::string dec = GetParam();
  auto s = open_gen_model(dec);
  const auto cases = load_cases(s, dec);
  eval::Generator gen(*s.model, *s.tokenizer);
  std::vector<eval::Prompt> all;
  for (const auto& c : cases) all.push_back(c.prompt);
  auto out = gen.generate(all, greedy(s, dec));
  ASSERT_EQ(out.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) expect_golden(out[i], cases[i].golden, dec + " batched " + std::to_string(i));
  // an uneven batch (different lengths, one question twice)
  auto out2 = gen.generate({all[4], all[1], all[4]}, greedy(s, dec));
  expect_golden(out2[0], cases[4].golden, dec + " batch of 3, row 0");
  expect_golden(out2[1], cases[1].golden, dec + " batch of 3, row 1");
  expect_golden(out2[2], cases[4].golden, dec + " batch of 3, row 2");
}

TEST_P(GenerateGolden, StopsOnGivenEosAndStopString) {
  const std::string dec = GetParam();
  auto s = open_gen_model(dec);
  const auto cases = load_cases(s, dec);
  eval::Generator gen(*s.model, *s.tokenizer);
  // a golden answer that ran to max_new_tokens: make its 6th token an EOS id
  const Case* long_case = nullptr;
  for (const auto& c : cases)
    if (c.golden["stopped"] == "max") long_case = &c;
  ASSERT_NE(long_case, nullptr);
  const auto ids = long_case->golden["new_ids"].get<std::vector<int64_t>>();
  size_t k = 5;
  while (std::find(ids.begin(), ids.begin() + k, ids[k]) != ids.begin() + k) ++k;
  auto cfg = greedy(s, dec);
  cfg.eos_ids = {ids[k]};
  auto out = gen.generate({long_case->prompt}, cfg)[0];
  EXPECT_EQ(out.ids, std::vector<int64_t>(ids.begin(), ids.begin() + k + 1));
  EXPECT_EQ(out.reason, eval::StopReason::eos);

  // a stop string: the text of a later token; generation ends on the first token whose tail contains it
  cfg = greedy(s, dec);
  std::string kw;
  size_t at = 4;
  for (; at < ids.size(); ++at) {
    kw = strip_copy(s.tokenizer->decode({ids[at]}, true));
    if (!kw.empty() && kw.find("\xef\xbf\xbd") == std::string::npos) break;
  }
  ASSERT_LT(at, ids.size()) << "no printable token in the golden answer";
  cfg.stop_strings = {kw};
  out = gen.generate({long_case->prompt}, cfg)[0];
  const eval::KeywordStop stop({kw}, *s.tokenizer);
  size_t expect_len = 0;
  for (size_t n = 1; n <= ids.size() && !expect_len; ++n)
    if (stop.hit({ids.begin(), ids.begin() + n}, *s.tokenizer)) expect_len = n;
  ASSERT_GT(expect_len, 0u);
  EXPECT_LE(expect_len, at + 1);
  EXPECT_EQ(out.ids, std::vector<int64_t>(ids.begin(), ids.begin() + expect_len));
  EXPECT_EQ(out.reason, eval::StopReason::stop_string);
}

TEST_P(GenerateGolden, SamplingIsSeededAndTopK1IsGreedy) {
  const std::string dec = GetParam();
  auto s = open_gen_model(dec);
  const auto cases = load_cases(s, dec);
  eval::Generator gen(*s.model, *s.tokenizer);
  auto cfg = greedy(s, dec);
  cfg.temperature = 0.7;
  cfg.top_k = 1;
  cfg.seed = 3;
  expect_golden(gen.generate({cases[2].prompt}, cfg)[0], cases[2].golden, dec + " top_k=1");
  cfg.top_k = 0;
  cfg.temperature = 1.5;
  cfg.top_p = 0.95;
  const auto a = gen.generate({cases[2].prompt}, cfg)[0];
  const auto b = gen.generate({cases[2].prompt}, cfg)[0];
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_FALSE(a.ids.empty());
}

INSTANTIATE_TEST_SUITE_P(Decoders, GenerateGolden, ::testing::ValuesIn(decoders()),
                         [](const auto& info) { return info.param; });

TEST(Warp, TemperatureTopKTopPAsHF) {
  auto logits = torch::tensor({{1.0f, 3.0f, 2.0f, 0.0f, 2.0f}});
  eval::GenerationConfig c;
  c.top_k = 2;  // keeps everything >= the 2nd largest value (ties included)
  auto w = eval::warp_logits(logits, c);
  EXPECT_TRUE(torch::isinf(w[0][0]).item<bool>());
  EXPECT_EQ(w[0][2].item<float>(), 2.0f);
  EXPECT_EQ(w[0][4].item<float>(), 2.0f);
  c.top_k = 0;
  c.top_p = 0.5;  // softmax of [1,3,2,0,2]: the top token alone holds ~0.53
  w = eval::warp_logits(logits, c);
  EXPECT_EQ((~torch::isinf(w)).sum().item<int64_t>(), 1);
  EXPECT_EQ(w[0][1].item<float>(), 3.0f);
  c.top_p = 1.0;
  c.temperature = 2.0;
  EXPECT_TRUE(torch::allclose(eval::warp_logits(logits, c), logits / 2));
}

TEST(TextStream, PiecesConcatenateToTheDecodedText) {
  auto s = open_gen_model("phi2");
  for (const auto& g : read_jsonl(data_path("golden/generate_phi2.jsonl"))) {
    const auto ids = g["new_ids"].get<std::vector<int64_t>>();
    eval::TextStream stream(*s.tokenizer);
    std::string all;
    for (size_t n = 1; n <= ids.size(); ++n) all += stream.next({ids.begin(), ids.begin() + n});
    all += stream.next(ids, /*final=*/true);
    EXPECT_EQ(eval::strip(all), g["text"].get<std::string>());
  }
}

TEST(KeywordStop, IdsAndDecodedTextLikeLlava) {
  auto s = open_gen_model("phi3");
  const auto& tok = *s.tokenizer;
  const eval::KeywordStop end({"<|end|>"}, tok);  // BOS stripped from the keyword ids
  const int64_t end_id = *tok.token_to_id("<|end|>");
  EXPECT_TRUE(end.hit({5, 6, end_id}, tok));
  EXPECT_FALSE(end.hit({5, 6}, tok));
  EXPECT_FALSE(end.hit({}, tok));
  // a string keyword found in the decoded tail even when tokenized differently
  const auto ab = tok.encode("hello world");
  const eval::KeywordStop world({"world"}, tok);
  EXPECT_TRUE(world.hit(ab, tok));
  EXPECT_EQ(eval::strip("  \t a b \n\xc2\xa0"), "a b");
  EXPECT_EQ(eval::strip(" \n "), "");
}

}  // namespace
}  // namespace imp::test
