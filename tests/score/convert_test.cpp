// Submission writers: byte-identical to LLaVA's converter scripts (expected_* from
// scripts/make_eval_score_fixtures.py), and the MMBench table/xlsx layout.
#include <gtest/gtest.h>

#include <cstdint>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/eval/score_convert.h"

namespace {

std::string data(const std::string& rel) { return std::string(IMP_TEST_DATA) + "/eval_score/" + rel; }

imp::eval::Submission make(const std::string& benchmark, const std::string& answers, const std::string& questions = "",
                           const std::string& output = "out.json") {
  imp::eval::ConvertOptions o;
  o.benchmark = benchmark;
  o.answers = data(answers);
  o.question_file = questions.empty() ? "" : data(questions);
  o.output = output;
  return imp::eval::make_submission(o);
}

TEST(Convert, Vqav2MatchesPythonBytes) {
  const auto s = make("vqav2", "submit/vqav2_answers.jsonl", "submit/llava_vqav2_mscoco_test2015.jsonl");
  EXPECT_EQ(s.content, imp::read_text_file(data("expected_vqav2.json")));
  EXPECT_NE(s.summary.find("error_line: 1"), std::string::npos) << s.summary;
  EXPECT_NE(s.summary.find("unanswered: 1"), std::string::npos) << s.summary;
}

TEST(Convert, VizwizMatchesPythonBytes) {
  const auto s = make("vizwiz", "submit/vizwiz_answers.jsonl", "submit/llava_vizwiz_test.jsonl");
  EXPECT_EQ(s.content, imp::read_text_file(data("expected_vizwiz.json")));
  // Every test question needs an answer (the Python script asserts it).
  EXPECT_THROW(make("vizwiz", "submit/vqav2_answers.jsonl", "submit/llava_vizwiz_test.jsonl"), imp::Error);
}

TEST(Convert, GqaAndMmvetMatchPythonBytes) {
  EXPECT_EQ(make("gqa", "gqa/answers.jsonl").content, imp::read_text_file(data("expected_gqa_predictions.json")));
  EXPECT_EQ(make("mmvet", "submit/mmvet_answers.jsonl").content, imp::read_text_file(data("expected_mmvet.json")));
}

TEST(Convert, UnknownBenchmarkIsUsageError) {
  try {
    make("pope", "gqa/answers.jsonl");
    FAIL();
  } catch (const imp::Error& e) {
    EXPECT_EQ(e.kind(), imp::ErrorKind::usage);
  }
}

TEST(Convert, MmbenchTableLayout) {
  const auto t = imp::eval::mmbench_submission_table(data("mmbench/mmbench_mini.tsv"), data("mmbench/answers.jsonl"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"index", "question", "A", "B", "C", "D", "prediction", "answer", "split"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0][6], "B");  // the last answer for an index wins
  EXPECT_TRUE(t.missing[0][4]);  // "None" is NaN for pandas
  EXPECT_TRUE(t.missing[0][5]);
  EXPECT_EQ(t.rows[1][1], "Quoted\ttab and \"quotes\"\nnew line");
  EXPECT_TRUE(t.missing[1][6]);  // no answer
  EXPECT_EQ(t.rows[2][6], "B. no <b>&");
  EXPECT_EQ(imp::eval::table_to_tsv(t),
            "index\tquestion\tA\tB\tC\tD\tprediction\tanswer\tsplit\n"
            "0\tWhat is shown?\tcat\tdog\t\t\tB\tA\tdev\n"
            "1\t\"Quoted\ttab and \"\"quotes\"\"\nnew line\"\t1\t2\t3\t4\t\tC\tdev\n"
            "2\tWhich & <one>?\tyes\tno\t\t\tB. no <b>&\tB\tdev\n");
}

uint32_t u32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(s[at])) | static_cast<uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 3])) << 24;
}

TEST(Convert, MmbenchXlsxIsAZipWithTheSheet) {
  const auto s = make("mmbench", "mmbench/answers.jsonl", "mmbench/mmbench_mini.tsv", "out/merge.xlsx");
  const std::string& z = s.content;
  ASSERT_GT(z.size(), 22u);
  EXPECT_EQ(u32(z, 0), 0x04034b50u);
  const size_t end = z.size() - 22;
  EXPECT_EQ(u32(z, end), 0x06054b50u);
  const uint32_t cd_offset = u32(z, end + 16);
  EXPECT_EQ(u32(z, cd_offset), 0x02014b50u);
  // Walk the local entries (stored): names and sizes must be consistent.
  std::vector<std::string> names;
  std::string sheet;
  for (size_t at = 0; at < cd_offset;) {
    ASSERT_EQ(u32(z, at), 0x04034b50u);
    const uint32_t size = u32(z, at + 18);
    const size_t name_len = static_cast<unsigned char>(z[at + 26]) | static_cast<unsigned char>(z[at + 27]) << 8;
    names.push_back(z.substr(at + 30, name_len));
    if (names.back() == "xl/worksheets/sheet1.xml") sheet = z.substr(at + 30 + name_len, size);
    at += 30 + name_len + size;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
                                             "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"}));
  EXPECT_NE(sheet.find("<c r=\"A2\"><v>0</v></c>"), std::string::npos);        // index is numeric
  EXPECT_NE(sheet.find("<c r=\"E3\"><v>3</v></c>"), std::string::npos);        // C: numbers and NaN
  EXPECT_NE(sheet.find(">B. no &lt;b&gt;&amp;</t>"), std::string::npos);       // escaped prediction
  EXPECT_EQ(sheet.find("r=\"G3\""), std::string::npos);                        // missing prediction: no cell
  EXPECT_NE(sheet.find(">prediction</t>"), std::string::npos);
  EXPECT_EQ(make("mmbench", "mmbench/answers.jsonl", "mmbench/mmbench_mini.tsv", "merge.tsv").content.substr(0, 5),
            "index");
}

}  // namespace
