// Submission writers (`imp eval convert`): the files LLaVA's converter scripts produce for the
// evaluation servers, byte-compatible with Python's json.dump where the scripts use it.
//   vqav2   convert_vqav2_for_submission.py   [{"question_id", "answer"}] over the test2015 questions,
//                                             EvalAI-normalised, "" for unanswered questions
//   vizwiz  convert_vizwiz_for_submission.py  [{"image", "answer"}]; every question needs an answer
//   gqa     convert_gqa_for_eval.py           [{"questionId", "prediction": text.rstrip('.').lower()}]
//   mmvet   convert_mmvet_for_eval.py         {"v1_<question_id>": text} (indent 2)
//   mmbench convert_mmbench_for_submission.py the question TSV without hint/category/source/image/
//                                             comment/l2-category, a "prediction" column inserted at
//                                             position 6; .xlsx (default) or .tsv by output extension
#pragma once

#include <string>
#include <vector>

namespace imp::eval {

struct ConvertOptions {
  std::string benchmark;      // vqav2 | vizwiz | gqa | mmvet | mmbench
  std::string answers;        // merged answers JSONL
  std::string question_file;  // vqav2: llava_vqav2_mscoco_test2015.jsonl; vizwiz: llava_test.jsonl;
                              // mmbench: the question TSV (e.g. mmbench_dev_20230712.tsv)
  std::string output;         // file to write (parent directories are created)
};

struct Submission {
  std::string content;  // the bytes to write
  std::string summary;  // one line for stderr
};

Submission make_submission(const ConvertOptions& o);
// make_submission, then creates the parent directories and writes --output atomically; returns the summary.
std::string write_submission(const ConvertOptions& o);
const std::vector<std::string>& convert_benchmarks();

// MMBench pieces, exposed for tests.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // cells as text
  std::vector<std::vector<bool>> missing;      // pandas NaN (empty or an NA string such as "None")
};
Table read_tsv_like_pandas(const std::string& path);  // pandas.read_table defaults
Table mmbench_submission_table(const std::string& tsv_path, const std::string& answers_path);
std::string table_to_tsv(const Table& t);   // DataFrame.to_csv(sep='\t', index=False)
std::string table_to_xlsx(const Table& t);  // one sheet "Sheet1", numbers where pandas infers numbers

}  // namespace imp::eval
