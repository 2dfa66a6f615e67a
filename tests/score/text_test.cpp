// Python string semantics and the parsing rules of the official scorers, including the quirks the
// port keeps on purpose and the errors for inputs the Python code cannot handle.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "imp/core/error.h"
#include "imp/eval/score.h"
#include "imp/eval/score_mme.h"
#include "imp/eval/score_pope.h"
#include "imp/eval/score_sqa.h"
#include "imp/eval/score_text.h"
#include "imp/eval/score_textvqa.h"
#include "imp/eval/score_vqa.h"

namespace py = imp::eval::py;

namespace {

std::string temp_file(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / "imp_score_tests";
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(PyText, LowerUsesFullCaseMappingAndFinalSigma) {
  EXPECT_EQ(py::lower("ABC def"), "abc def");
  EXPECT_EQ(py::lower("\u0130"), "i\u0307");                     // one code point becomes two
  EXPECT_EQ(py::lower("\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3"),  // ΟΔΥΣΣΕΥΣ -> οδυσσευς
            "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2");
  EXPECT_EQ(py::lower("\u03a3"), "\u03c3");            // no cased letter before: not final
  EXPECT_EQ(py::lower("A\u03a3'"), "a\u03c2'");        // the apostrophe is case-ignorable
  EXPECT_EQ(py::lower("\u01c5"), "\u01c6");            // titlecase digraph
  EXPECT_EQ(py::lower("CAF\u00c9"), "caf\u00e9");
}

TEST(PyText, WhitespaceIsPythonsNotCs) {
  EXPECT_TRUE(py::is_space(0x1C));    // file separator: Python whitespace
  EXPECT_TRUE(py::is_space(0x85));
  EXPECT_TRUE(py::is_space(0xA0));
  EXPECT_TRUE(py::is_space(0x3000));
  EXPECT_FALSE(py::is_space(0x200B));  // zero width space is not
  EXPECT_FALSE(py::is_space(0x180E));
  EXPECT_EQ(py::split("  a\u00a0b\u2003c\x1c d  "), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(py::split(" \t\n").empty());
  EXPECT_EQ(py::split("a  b", " "), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(py::strip("\u3000 x y\u2028"), "x y");
  EXPECT_EQ(py::strip("\u200bx"), "\u200bx");
  EXPECT_EQ(py::length("\u00e9a\U0001F600"), 3u);
}

TEST(EvalAI, QuirksOfTheOfficialNormaliser) {
  using imp::eval::evalai_process;
  EXPECT_EQ(evalai_process("The Dog."), "dog");
  EXPECT_EQ(evalai_process("Two"), "2");
  EXPECT_EQ(evalai_process("None of them"), "0 of them");
  EXPECT_EQ(evalai_process("dont"), "don't");
  EXPECT_EQ(evalai_process("Im"), "im");  // capitalised keys never match after lower-casing
  EXPECT_EQ(evalai_process("let's"), "let 's");
  EXPECT_EQ(evalai_process("3.5"), "3.5");
  EXPECT_EQ(evalai_process("1,000"), "1000");   // commas go in word_tokenize
  EXPECT_EQ(evalai_process("left-handed"), "left handed");
  EXPECT_EQ(evalai_process("t-shirt - blue"), "tshirt blue");  // " -" in the input: every '-' is deleted
  EXPECT_EQ(evalai_process(""), "");
  EXPECT_EQ(evalai_process("\u0663.\u0663."), "\u0663.\u0663");  // Arabic-Indic digits are \d
  // At most 32 periods are removed (re.sub's count = re.UNICODE = 32).
  EXPECT_EQ(evalai_process(std::string(40, '.')), std::string(8, '.'));
  // COMMA_STRIP only matters for raw input (the processor removes commas first).
  EXPECT_EQ(imp::eval::evalai_process_punctuation("1,000 (x)"), "1000 x");  // every mark deleted
  EXPECT_EQ(imp::eval::evalai_process_punctuation("a,b (x)"), "a b x ");
}

TEST(VqaAccuracy, NeedsTenAnswers) {
  try {
    imp::eval::vqa_accuracy("yes", {"yes", "yes"}, "q7");
    FAIL() << "expected an error";
  } catch (const imp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("exactly 10"), std::string::npos) << e.what();
  }
  std::vector<std::string> gts = {"a", "a", "a", "b", "b", "c", "c", "c", "c", "d"};
  EXPECT_DOUBLE_EQ(imp::eval::vqa_accuracy("c", gts, "q"), 1.0);  // 4 matches: min(1, 3/3) each time
  EXPECT_DOUBLE_EQ(imp::eval::vqa_accuracy("b", gts, "q"), (8 * (2.0 / 3) + 2 * (1.0 / 3)) / 10);
  EXPECT_EQ(imp::eval::vqa_accuracy("e", gts, "q"), 0.0);
}

TEST(Pope, AnswerParsingIsCaseSensitive) {
  EXPECT_TRUE(imp::eval::pope_answer_is_no("No"));
  EXPECT_TRUE(imp::eval::pope_answer_is_no("no."));
  EXPECT_FALSE(imp::eval::pope_answer_is_no("NO"));
  EXPECT_FALSE(imp::eval::pope_answer_is_no("Yes, there is a dog. No cat."));  // first sentence only
  EXPECT_TRUE(imp::eval::pope_answer_is_no("There is not a dog"));
  EXPECT_FALSE(imp::eval::pope_answer_is_no("There is not,a dog"));  // "nota"
  EXPECT_FALSE(imp::eval::pope_answer_is_no("Nope"));
  EXPECT_FALSE(imp::eval::pope_answer_is_no(""));
  EXPECT_FALSE(imp::eval::pope_answer_is_no("yes,no"));  // commas are deleted: one word "yesno"
}

TEST(Pope, DivisionByZeroGivesNull) {
  const auto m = imp::eval::pope_metrics({false, false}, {true, false});
  EXPECT_FALSE(m.precision.has_value());
  EXPECT_FALSE(m.f1.has_value());
  EXPECT_DOUBLE_EQ(*m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(*m.yes_ratio, 0.0);
  const auto z = imp::eval::pope_metrics({true, true, false}, {true, false});  // zip stops at 2
  EXPECT_EQ(z.tp + z.fp + z.tn + z.fn, 2u);
  EXPECT_DOUBLE_EQ(*z.yes_ratio, 2.0 / 3);
}

TEST(Mme, PredictionParsing) {
  EXPECT_EQ(imp::eval::mme_parse_prediction("yes"), "yes");
  EXPECT_EQ(imp::eval::mme_parse_prediction("yes\n"), "yes");
  EXPECT_EQ(imp::eval::mme_parse_prediction("nope\n"), "no");
  EXPECT_EQ(imp::eval::mme_parse_prediction("the answer is yes\n"), "other");
  EXPECT_EQ(imp::eval::mme_parse_prediction(" no\n"), "no");
  EXPECT_EQ(imp::eval::mme_parse_prediction("\u00e9\u00e9yes"), "other");  // 4 code points: "ééye"
  EXPECT_EQ(imp::eval::mme_parse_prediction("\n"), "other");
}

TEST(Mme, TabOrLineBreakInAnswerFailsLikePython) {
  EXPECT_THROW(imp::eval::mme_task_score("count", "a.txt\tq\tYes\tye\ts\nb.txt\tq\tNo\tno\n", "t"), imp::Error);
  EXPECT_THROW(imp::eval::mme_task_score("count", "a.txt\tq\tYes\tyes\nb.txt\tq\tNo\tno\nc\n", "t"), imp::Error);
  const auto s = imp::eval::mme_task_score("count", "a\tq\tYes\tyes\na\tq\tNo\tYes\r\n", "t");
  EXPECT_DOUBLE_EQ(s.acc, 0.5);
  EXPECT_DOUBLE_EQ(s.acc_plus, 0.0);
  EXPECT_DOUBLE_EQ(s.score, 50.0);
}

TEST(Sqa, AnswerParsing) {
  using imp::eval::sqa_parse_answer;
  EXPECT_EQ(sqa_parse_answer("C"), "C");
  EXPECT_EQ(sqa_parse_answer("F"), "FAILED");
  EXPECT_EQ(sqa_parse_answer("D. text"), "D");
  EXPECT_EQ(sqa_parse_answer("D."), "FAILED");
  EXPECT_EQ(sqa_parse_answer("So, The answer is B\u00e9"), "B");  // any character after the letter
  EXPECT_EQ(sqa_parse_answer("The answer is Z."), "Z");
  EXPECT_EQ(imp::eval::sqa_pred_index("Z", 4), -1);
  EXPECT_EQ(imp::eval::sqa_pred_index("D", 3), -1);
  EXPECT_EQ(imp::eval::sqa_pred_index("C", 3), 2);
}

TEST(TextVqa, PromptProcessor) {
  using imp::eval::textvqa_prompt_question;
  EXPECT_EQ(textvqa_prompt_question("What Is It?\nReference OCR token: A, B\nAnswer briefly.", "t"), "what is it?");
  EXPECT_EQ(textvqa_prompt_question("Reference OCR token: A\nWhat?\nAnswer.", "t"), "what?");
  EXPECT_EQ(textvqa_prompt_question("Why?\nAnswer.", "t"), "why?");
  EXPECT_EQ(textvqa_prompt_question("OCR tokens: x Question: A\nB? Short answer: Short answer:", "t"), "a\nb?");
  EXPECT_THROW(textvqa_prompt_question("one line only", "t"), imp::Error);
  EXPECT_THROW(textvqa_prompt_question("OCR tokens: x Question: no end", "t"), imp::Error);
}

TEST(Score, MissingInputsAreClearErrors) {
  imp::eval::ScoreOptions o;
  o.benchmark = "mmbench";
  o.answers = temp_file("a.jsonl", "{\"question_id\": 1, \"text\": \"A\", \"prompt\": \"\"}\n");
  try {
    imp::eval::score_benchmark(o);
    FAIL();
  } catch (const imp::Error& e) {
    EXPECT_EQ(e.kind(), imp::ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("imp eval convert"), std::string::npos) << e.what();
  }
  o.benchmark = "textvqa";
  try {
    imp::eval::score_benchmark(o);
    FAIL();
  } catch (const imp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("TextVQA_0.5.1_val.json"), std::string::npos) << e.what();
  }
  o.benchmark = "sqa";
  o.base_dir = "/nonexistent/scienceqa";
  try {
    imp::eval::score_benchmark(o);
    FAIL();
  } catch (const imp::Error& e) {
    EXPECT_EQ(e.kind(), imp::ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find("pid_splits.json"), std::string::npos) << e.what();
  }
  o.benchmark = "pope";
  o.answers = temp_file("bad.jsonl", "{\"question_id\": 1,\n");
  o.annotation_dir = std::filesystem::temp_directory_path().string();
  o.question_file = o.answers;
  EXPECT_THROW(imp::eval::score_benchmark(o), imp::Error);
}

TEST(Score, WrongFieldTypesNameTheBenchmarkAndFiles) {
  imp::eval::ScoreOptions o;
  o.benchmark = "textvqa";
  o.annotation_file = temp_file("tv.json", R"({"data": [{"image_id": "a", "question": "q?", "answers": [1, 2]}]})");
  o.answers = temp_file("tv.jsonl", "{\"question_id\": \"a\", \"prompt\": \"q?\\nx\", \"text\": \"x\"}\n");
  try {
    imp::eval::score_benchmark(o);
    FAIL();
  } catch (const imp::Error& e) {
    EXPECT_EQ(e.kind(), imp::ErrorKind::input);
    EXPECT_NE(std::string(e.what()).find("textvqa: unexpected structure"), std::string::npos) << e.what();
  }
}

TEST(Gqa, UnansweredBalancedQuestionIsAnError) {
  imp::eval::ScoreOptions o;
  o.benchmark = "gqa";
  o.question_file = std::string(IMP_TEST_DATA) + "/eval_score/gqa/testdev_balanced_questions.json";
  o.answers = temp_file("gqa.jsonl", "{\"question_id\": \"q1\", \"text\": \"yes\", \"prompt\": \"\"}\n");
  try {
    imp::eval::score_benchmark(o);
    FAIL();
  } catch (const imp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no prediction for question q2"), std::string::npos) << e.what();
  }
}

}  // namespace
