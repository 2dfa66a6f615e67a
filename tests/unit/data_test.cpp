// Data pipeline: Imp's label masks against the Python goldens (scripts/make_data_fixtures.py), the
// record scanner, samplers, collate, and loader determinism.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "imp/core/error.h"
#include "imp/core/json.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/data/records.h"
#include "imp/data/sampler.h"
#include "test_utils.h"

namespace imp::test {
namespace {

using data::Record;

std::vector<Json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<Json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

class PreprocessGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PreprocessGolden, IdsLabelsAndMismatchEqualPython) {
  const auto lines = read_jsonl(data_path("golden/preprocess_" + GetParam() + ".jsonl"));
  ASSERT_FALSE(lines.empty());
  const std::string version = lines[0].at("version");
  auto tok = text::Tokenizer::from_path(data_path("tokenizers/" + lines[0].at("tokenizer").get<std::string>()));
  auto settings = data::prepare_tokenizer(*tok, version, lines[0].at("model_max_length"));
  EXPECT_EQ(settings.pad_id, lines[0].at("pad_id").get<int64_t>());
  int mismatches = 0;
  for (const auto& g : lines) {
    const Record r = data::parse_record(g.at("record"), "golden");
    if (g.contains("error")) {  // train.py crashes on this record; imp reports it as a bad sample
      EXPECT_THROW(data::preprocess(r, *tok, settings), Error) << version << " " << r.id;
      continue;
    }
    const auto e = data::preprocess(r, *tok, settings);
    EXPECT_EQ(e.input_ids, g.at("input_ids").get<std::vector<int64_t>>()) << version << " " << r.id;
    EXPECT_EQ(e.labels, g.at("labels").get<std::vector<int64_t>>()) << version << " " << r.id;
    EXPECT_EQ(e.mismatch, g.at("mismatch").get<bool>()) << version << " " << r.id;
    mismatches += e.mismatch;
  }
  if (version != "plain") {
    EXPECT_GT(mismatches, 0) << "the goldens should include a deliberate mismatch";
  }
}

INSTANTIATE_TEST_SUITE_P(Templates, PreprocessGolden, ::testing::Values("phi2", "qwen15", "phi3", "plain"));

TEST(Templates, GenerationPrompts) {
  EXPECT_EQ(data::render(data::get_template("phi2"), {"<image>\nQ?", ""}),
            data::get_template("phi2").system + " USER: <image>\nQ? ASSISTANT:");
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  EXPECT_TRUE(ends_with(data::render(data::get_template("qwen1.5"), {"Q", ""}), "Q<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_TRUE(ends_with(data::render(data::get_template("phi3"), {"Q", ""}), "Q<|end|>\n<|assistant|>\n"));
  EXPECT_THROW(data::get_template("vicuna"), Error);
}

TEST(Records, ScannerFindsElementsAndReportsLineColumn) {
  const std::string ok = " [ {\"id\": 1, \"conversations\": [{\"from\": \"human\", \"value\": \"a]}\\\"\"}]},\n {\"x\": [1,2]} ] ";
  const auto spans = data::scan_json_array(ok.data(), ok.size(), "d.json");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(ok.substr(spans[1].first, spans[1].second - spans[1].first), "{\"x\": [1,2]}");
  // The scanner only finds element boundaries; "[1 2]" is one element that the record parser rejects.
  for (const std::string bad : {"{}", "[{\"a\": 1}", "[{\"a\": 1},]", "[{\"a\": \"x}]", "[] x"}) {
    try {
      data::scan_json_array(bad.data(), bad.size(), "d.json");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("d.json:1:"), std::string::npos) << e.what();
    }
  }
}

TEST(Records, SchemaErrorsAreNamed) {
  auto err = [](const std::string& text) {
    try {
      data::parse_record(parse_json_strict(text, "r"), "r");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(err("[1]").find("JSON object"), std::string::npos);
  EXPECT_NE(err("{\"id\": 1}").find("conversations"), std::string::npos);
  EXPECT_NE(err("{\"conversations\": []}").find("non-empty"), std::string::npos);
  EXPECT_NE(err("{\"conversations\": [{\"from\": \"human\", \"value\": 3}]}").find("'value'"), std::string::npos);
  EXPECT_NE(err("{\"image\": \"../x.jpg\", \"conversations\": [{\"from\": \"human\", \"value\": \"a\"}]}").find(".."),
            std::string::npos);
  EXPECT_NE(err("{\"id\": 1, \"id\": 2, \"conversations\": []}").find("duplicate key"), std::string::npos);
}

TEST(Samplers, OrdersArePermutationsAndDeterministic) {
  std::vector<int64_t> lengths;
  for (int i = 0; i < 103; ++i) lengths.push_back(i % 3 == 0 ? -(5 + i) : 700 + i);
  for (auto kind : {data::SamplerKind::sequential, data::SamplerKind::random, data::SamplerKind::modality_grouped}) {
    const auto a = data::epoch_order(kind, lengths.size(), 7, 0, lengths, 4, 2);
    EXPECT_EQ(a, data::epoch_order(kind, lengths.size(), 7, 0, lengths, 4, 2));
    std::set<int64_t> all(a.begin(), a.end());
    EXPECT_EQ(a.size(), lengths.size());
    EXPECT_EQ(all.size(), lengths.size());
    if (kind != data::SamplerKind::sequential) {
      EXPECT_NE(a, data::epoch_order(kind, lengths.size(), 7, 1, lengths, 4, 2)) << "epochs should differ";
    }
  }
  // Modality grouping: every full megabatch (batch 4 x world 2) is one modality.
  const auto g = data::epoch_order(data::SamplerKind::modality_grouped, lengths.size(), 3, 0, lengths, 4, 2);
  for (size_t m = 0; m + 8 <= g.size() - 8; m += 8) {
    std::set<bool> kinds;
    for (size_t i = m; i < m + 8; ++i) kinds.insert(lengths[g[i]] > 0);
    EXPECT_EQ(kinds.size(), 1u) << "megabatch at " << m;
  }
}

TEST(Samplers, RankBatchesSplitEvenly) {
  std::vector<int64_t> order(10);
  std::iota(order.begin(), order.end(), 0);
  const auto r0 = data::rank_batches(order, 2, 0, 2), r1 = data::rank_batches(order, 2, 1, 2);
  ASSERT_EQ(r0.size(), 3u);
  ASSERT_EQ(r1.size(), 3u);
  EXPECT_EQ(r0[0], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(r1[0], (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r1[2], (std::vector<int64_t>{0, 1}));  // the last round is completed from the start
}

}  // namespace
}  // namespace imp::test
