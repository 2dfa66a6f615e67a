// JSON submission writers; see score_convert.h.
#include <filesystem>
#include <unordered_map>

#include "imp/core/fs.h"
#include "imp/eval/score_convert.h"
#include "imp/eval/score_gqa.h"
#include "imp/eval/score_io.h"
#include "imp/eval/score_text.h"
#include "imp/eval/score_vqa.h"

namespace imp::eval {
namespace {

// The converters wrap json.loads in try/except and count the lines they could not read.
std::vector<Json> read_jsonl_tolerant(const std::string& path, size_t* error_lines) {
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, path, ": file not found");
  const std::string text = read_text_file(path);
  std::vector<Json> out;
  *error_lines = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    Json j;
    try {
      j = parse_json(line, path, json_limits::eval_data);
    } catch (const Error&) {  // malformed or over the nesting limit (Python: RecursionError, also caught)
      ++*error_lines;
      continue;
    }
    if (!j.is_object() || !j.contains("question_id") || !j.contains("text") || !j["text"].is_string())
      ++*error_lines;
    else
      out.push_back(std::move(j));
  }
  return out;
}

std::unordered_map<std::string, std::string> answers_by_id(const std::string& path, size_t* error_lines) {
  std::unordered_map<std::string, std::string> out;
  for (const Json& j : read_jsonl_tolerant(path, error_lines)) out[id_key(j["question_id"])] = j["text"].get<std::string>();
  return out;
}

OrderedJson to_ordered(const Json& j) { return OrderedJson::parse(j.dump()); }

Submission vqa_like(const ConvertOptions& o, bool vizwiz) {
  IMP_CHECK_KIND(!o.question_file.empty(), ErrorKind::usage, "--question-file is required for ", o.benchmark,
                 vizwiz ? " (llava_test.jsonl)" : " (llava_vqav2_mscoco_test2015.jsonl, all test2015 questions)");
  size_t error_lines = 0;
  const auto results = answers_by_id(o.answers, &error_lines);
  const auto questions = read_jsonl(o.question_file);
  OrderedJson out = OrderedJson::array();
  size_t missing = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    const std::string origin = o.question_file + ":" + std::to_string(i + 1);
    const Json& qid = question_id(questions[i], origin);
    auto it = results.find(id_key(qid));
    if (vizwiz) {
      IMP_CHECK(it != results.end(), o.answers, ": no answer for question_id ", qid.dump(),
                " (the VizWiz server needs every test question)");
      out.push_back({{"image", string_field(questions[i], "image", origin)}, {"answer", evalai_process(it->second)}});
    } else {
      missing += it == results.end();
      out.push_back({{"question_id", to_ordered(qid)}, {"answer", it == results.end() ? std::string() : evalai_process(it->second)}});
    }
  }
  return {py_json_dumps(out), "total results: " + std::to_string(results.size()) + ", total split: " +
                                  std::to_string(questions.size()) + ", error_line: " + std::to_string(error_lines) +
                                  (vizwiz ? "" : ", unanswered: " + std::to_string(missing))};
}

Submission gqa(const ConvertOptions& o) {
  OrderedJson out = OrderedJson::array();
  const auto answers = read_jsonl(o.answers);
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    out.push_back({{"questionId", to_ordered(question_id(answers[i], origin))},
                   {"prediction", gqa_prediction(string_field(answers[i], "text", origin))}});
  }
  return {py_json_dumps(out), std::to_string(answers.size()) + " predictions"};
}

Submission mmvet(const ConvertOptions& o) {
  OrderedJson out = OrderedJson::object();
  const auto answers = read_jsonl(o.answers);
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string origin = o.answers + ":" + std::to_string(i + 1);
    const Json& qid = question_id(answers[i], origin);
    out["v1_" + (qid.is_string() ? qid.get<std::string>() : qid.dump())] = string_field(answers[i], "text", origin);
  }
  return {py_json_dumps(out, 2), std::to_string(out.size()) + " answers"};
}

Submission mmbench(const ConvertOptions& o) {
  IMP_CHECK_KIND(!o.question_file.empty(), ErrorKind::usage,
                 "--question-file is required for mmbench (the question TSV, e.g. mmbench_dev_20230712.tsv)");
  const Table t = mmbench_submission_table(o.question_file, o.answers);
  const bool tsv = o.output.size() >= 4 && (o.output.substr(o.output.size() - 4) == ".tsv" ||
                                            o.output.substr(o.output.size() - 4) == ".csv");
  return {tsv ? table_to_tsv(t) : table_to_xlsx(t), std::to_string(t.rows.size()) + " rows"};
}

}  // namespace

const std::vector<std::string>& convert_benchmarks() {
  static const std::vector<std::string> names = {"vqav2", "vizwiz", "gqa", "mmvet", "mmbench"};
  return names;
}

Submission make_submission(const ConvertOptions& o) {
  IMP_CHECK_KIND(!o.answers.empty(), ErrorKind::usage, "--answers FILE is required (the merged answers JSONL)");
  try {
    if (o.benchmark == "vqav2") return vqa_like(o, false);
    if (o.benchmark == "vizwiz") return vqa_like(o, true);
    if (o.benchmark == "gqa") return gqa(o);
    if (o.benchmark == "mmvet") return mmvet(o);
    if (o.benchmark == "mmbench") return mmbench(o);
  } catch (const nlohmann::json::exception& e) {
    IMP_FAIL(o.benchmark, ": unexpected structure in the input files (answers ", o.answers, "): ", e.what());
  }
  throw Error("--benchmark '" + o.benchmark + "' has no submission format; choose vqav2, vizwiz, gqa, mmvet or mmbench",
              ErrorKind::usage);
}

std::string write_submission(const ConvertOptions& o) {
  IMP_CHECK_KIND(!o.output.empty(), ErrorKind::usage, "--output FILE is required");
  const Submission s = make_submission(o);
  const auto parent = std::filesystem::path(o.output).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  atomic_write(o.output, s.content);
  return s.summary;
}

}  // namespace imp::eval
