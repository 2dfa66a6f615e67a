// The JSON entry point (core/json.h): size and nesting limits checked before any DOM exists, with
// errors naming the file, the kind and the limit (issue #17: a 10^5-deep config.json crashed imp).
// Every entry function and every kind of JSON file gets the 100,000-level objects and arrays.
#include "imp/core/json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "imp/core/error.h"
#include "json_deep.h"

namespace imp {
namespace {

namespace fs = std::filesystem;
using test::deep_json;

// Runs f; expects an input error whose message contains every needle.
void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::input) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << n << " in\n" << e.what();
  }
}

class JsonLimitsTest : public testing::TestWithParam<bool> {  // true: objects, false: arrays
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("imp_json_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    test::write_text(p, text);
    return p;
  }
  fs::path dir_;
};

TEST_P(JsonLimitsTest, EveryEntryFunctionRefusesDeepNesting) {
  const std::string deep = deep_json(GetParam());
  const auto& lim = json_limits::model_config;
  const std::initializer_list<std::string> needles = {"x/config.json: JSON nested deeper than 64 levels",
                                                      "the limit for config.json", "hint: replace it"};
  expect_input_error([&] { parse_json(deep, "x/config.json", lim); }, needles);
  expect_input_error([&] { parse_json_ordered(deep, "x/config.json", lim); }, needles);
  expect_input_error([&] { parse_json_strict(deep, "x/config.json", lim); }, needles);
  expect_input_error([&] { check_json_limits(deep.data(), deep.size(), "x/config.json", lim); }, needles);
  const std::string path = write("config.json", deep);
  expect_input_error([&] { read_json_file(path, lim); }, {path + ": JSON nested deeper than 64 levels"});
  // The default kind still bounds nesting.
  expect_input_error([&] { parse_json(deep, "stdin line 1"); }, {"stdin line 1: JSON nested deeper than 64 levels"});
}

TEST_P(JsonLimitsTest, EveryKindOfFileRefusesDeepNesting) {
  const std::string path = write("f.json", deep_json(GetParam()));
  for (const JsonLimits& k :
       {json_limits::any, json_limits::model_config, json_limits::generation_config, json_limits::adapter_config,
        json_limits::tokenizer, json_limits::tokenizer_config, json_limits::special_tokens_map,
        json_limits::added_tokens, json_limits::vocab, json_limits::safetensors_header, json_limits::safetensors_index,
        json_limits::manifest, json_limits::trainer_state, json_limits::train_config, json_limits::deepspeed_config,
        json_limits::dataset_record, json_limits::eval_data, json_limits::request_body}) {
    SCOPED_TRACE(k.what);
    expect_input_error([&] { read_json_file(path, k); },
                       {"nested deeper than " + std::to_string(k.max_depth) + " levels",
                        std::string("the limit for ") + k.what});
  }
}

INSTANTIATE_TEST_SUITE_P(Deep, JsonLimitsTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& i) { return i.param ? "Objects" : "Arrays"; });

TEST(JsonLimits, DepthIsExactAndCountsOnlyBracketsOutsideStrings) {
  const JsonLimits lim{"test.json", 4, 0};
  EXPECT_NO_THROW(parse_json(deep_json(true, 4), "t", lim));
  EXPECT_NO_THROW(parse_json(deep_json(false, 4), "t", lim));
  expect_input_error([&] { parse_json(deep_json(false, 5), "t", lim); },
                     {"t: JSON nested deeper than 4 levels (line 1, column 5), the limit for test.json"});
  // Brackets inside strings, also after escaped quotes and backslashes, are text.
  const std::string in_string = "{\"k\":\"" + std::string(1000, '[') + "\\\"{{{\\\\\",\"v\":[[1]]}";
  EXPECT_EQ(parse_json(in_string, "t", lim).at("v"), Json::parse("[[1]]"));
  // The position is line:column of the first bracket over the limit.
  expect_input_error([&] { parse_json("[\n [\n  [[[1]]]]]", "t", lim); }, {"(line 3, column 5)"});
}

TEST(JsonLimits, SizeIsCheckedBeforeReading) {
  const fs::path p = fs::temp_directory_path() / ("imp_json_big_" + std::to_string(::getpid()) + ".json");
  test::write_text(p.string(), "");
  fs::resize_file(p, json_limits::model_config.max_bytes + 1);  // sparse: nothing is written
  expect_input_error([&] { read_json_file(p.string(), json_limits::model_config); },
                     {p.string() + ": 16777217 bytes is over the 16 MiB limit for config.json"});
  EXPECT_EQ(read_json_text(p.string(), json_limits::trainer_state).size(), json_limits::model_config.max_bytes + 1);
  fs::remove(p);
  const std::string text = "[" + std::string(100, ' ') + "]";
  expect_input_error([&] { parse_json(text, "body", JsonLimits{"request body", 64, 100}); },
                     {"body: 102 bytes is over the 100 bytes limit for request body"});
}

TEST(JsonLimits, SyntaxErrorsKeepTheirFormat) {
  expect_input_error([&] { parse_json("{\n  \"a\": 1,\n  oops\n}", "c.json"); }, {"c.json:3:3: malformed JSON"});
  expect_input_error([&] { parse_json("1e999", "c.json"); }, {"c.json: malformed JSON"});
  expect_input_error([&] { parse_json_strict("{\"a\":1,\"a\":2}", "c.json", json_limits::any, "; fix it"); },
                     {"c.json: duplicate key 'a'; fix it"});
  expect_input_error([&] { parse_json_strict("{\"a\":", "c.json"); }, {"c.json: not valid JSON"});
  try {
    read_json_file("/nonexistent/imp/config.json", json_limits::model_config);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io) << e.what();
  }
}

TEST(JsonOr, IntegerFieldsWrittenAsFloats) {
  const Json j = Json::parse(R"({"a": 4096.0, "b": 1e300, "c": 1.5, "d": -9.3e18, "e": 4096})");
  EXPECT_EQ(json_or<int64_t>(j, "a", 0, "c.json"), 4096);
  EXPECT_EQ(json_or<int64_t>(j, "e", 0, "c.json"), 4096);
  for (const char* k : {"b", "c", "d"})
    expect_input_error([&] { json_or<int64_t>(j, k, 0, "c.json"); }, {std::string("c.json: field '") + k + "' must be an integer"});
}

}  // namespace
}  // namespace imp
