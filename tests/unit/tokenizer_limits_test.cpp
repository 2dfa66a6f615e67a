// Tokenizer files nested 100,000 levels deep (issue #17): each JSON file the loader reads
// (tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json, vocab.json) is
// refused with an input error naming the file and its limit. Torch-free.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "imp/core/error.h"
#include "imp/text/tokenizer.h"
#include "json_deep.h"

namespace imp {
namespace {

namespace fs = std::filesystem;

struct Case {
  const char* fixture;  // tests/data/tokenizers/<fixture>
  const char* file;     // the file replaced by a deep one
  bool objects;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.fixture << "/" << c.file << (c.objects ? " objects" : " arrays"); }

class TokenizerDeepJson : public testing::TestWithParam<Case> {};

TEST_P(TokenizerDeepJson, IsRefusedNamingTheFileAndLimit) {
  const Case& c = GetParam();
  const fs::path dir = fs::temp_directory_path() / ("imp_tok_deep_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(std::string(IMP_TEST_DATA) + "/tokenizers/" + c.fixture))
    if (e.path().filename() != c.file) fs::create_symlink(fs::absolute(e.path()), dir / e.path().filename());
  test::write_text((dir / c.file).string(), test::deep_json(c.objects));
  try {
    text::Tokenizer::from_path(dir.string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::input) << e.what();
    const std::string want = (dir / c.file).string() + ": JSON nested deeper than 64 levels";
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::string("the limit for ") + c.file), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Files, TokenizerDeepJson,
    testing::Values(Case{"qwen2", "tokenizer.json", true}, Case{"qwen2", "tokenizer.json", false},
                    Case{"qwen2", "tokenizer_config.json", true}, Case{"qwen2", "tokenizer_config.json", false},
                    Case{"phi3", "special_tokens_map.json", true}, Case{"phi3", "special_tokens_map.json", false},
                    Case{"qwen2_slow", "vocab.json", true}, Case{"qwen2_slow", "vocab.json", false},
                    Case{"qwen2_slow", "added_tokens.json", true}, Case{"qwen2_slow", "added_tokens.json", false},
                    Case{"phi2_slow", "tokenizer_config.json", true}, Case{"phi2_slow", "tokenizer_config.json", false}),
    [](const testing::TestParamInfo<Case>& i) {
      std::string n = std::string(i.param.fixture) + "_" + i.param.file + (i.param.objects ? "_objects" : "_arrays");
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(TokenizerDeepJson, SingleFileAndText) {
  for (bool objects : {true, false}) {
    const std::string deep = test::deep_json(objects);
    try {
      text::Tokenizer::from_json_text(deep, "t.json");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("t.json: JSON nested deeper than 64 levels"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace imp
