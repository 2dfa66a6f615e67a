// Question files of the three engines -> EvalItems; see questions.h.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "imp/core/base64.h"
#include "imp/core/error.h"
#include "imp/eval/score_io.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/eval/questions.h"
#include "imp/eval/stopping.h"

namespace imp::eval {
namespace {

using ojson = nlohmann::ordered_json;

const char* kSinglePred = "Answer with the option's letter from the given choices directly.";
const char* kSinglePredCn = "\xe8\xaf\xb7\xe7\x9b\xb4\xe6\x8e\xa5\xe5\x9b\x9e\xe7\xad\x94\xe9\x80\x89\xe9\xa1\xb9"
                            "\xe5\xad\x97\xe6\xaf\x8d\xe3\x80\x82";  // 请直接回答选项字母。

std::string image_path(const std::string& folder, const std::string& image) {
  if (folder.empty() || (!image.empty() && image[0] == '/')) return image;
  return join_path(folder, image);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

ojson to_ordered(const Json& j) { return ojson::parse(j.dump()); }

std::vector<EvalItem> loader_items(const QuestionOptions& o) {
  std::ifstream f(o.question_file);
  IMP_CHECK_KIND(f.good(), ErrorKind::io, o.question_file, ": cannot open the question file (--question-file)");
  std::vector<EvalItem> out;
  std::string line;
  for (size_t n = 1; std::getline(f, line); ++n) {
    if (strip(line).empty()) continue;
    const std::string where = o.question_file + ":" + std::to_string(n);
    const Json q = parse_json(line, where, json_limits::eval_data);
    for (const char* key : {"question_id", "image", "text"})
      IMP_CHECK(q.is_object() && q.contains(key), where, ": a question needs '", key,
                "' (model_vqa_loader format: {\"question_id\", \"image\", \"text\"})");
    IMP_CHECK(q["text"].is_string() && q["image"].is_string(), where, ": 'text' and 'image' must be strings");
    EvalItem it;
    it.head["question_id"] = to_ordered(q["question_id"]);
    it.head["prompt"] = q["text"].get<std::string>();
    it.question = "<image>\n" + q["text"].get<std::string>();
    it.image_kind = EvalItem::ImageKind::file;
    it.image = image_path(o.image_folder, q["image"].get<std::string>());
    it.source = out.size();
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<EvalItem> science_items(const QuestionOptions& o) {
  const Json all = read_json_file(o.question_file, json_limits::eval_data);
  IMP_CHECK(all.is_array(), o.question_file, ": expected a JSON list of LLaVA-format questions (model_vqa_science)");
  std::vector<EvalItem> out;
  for (size_t i = 0; i < all.size(); ++i) {
    const Json& q = all[i];
    const std::string where = o.question_file + " item " + std::to_string(i);
    IMP_CHECK(q.is_object() && q.contains("id") && q.contains("conversations") && q["conversations"].is_array() &&
                  !q["conversations"].empty() && q["conversations"][0].contains("value") &&
                  q["conversations"][0]["value"].is_string(),
              where, ": needs 'id' and 'conversations' with a first message 'value' (a string)");
    std::string qs = strip(replace_all(q["conversations"][0]["value"].get<std::string>(), "<image>", ""));
    std::string cur = qs;
    EvalItem it;
    it.aspect = false;  // image_processor.preprocess directly: no aspect-ratio mode
    if (q.contains("image") && !q["image"].is_null()) {
      IMP_CHECK(q["image"].is_string(), where, ": 'image' must be a file name (a string) or null");
      it.image_kind = EvalItem::ImageKind::file;
      it.image = image_path(o.image_folder, q["image"].get<std::string>());
      qs = "<image>\n" + qs;
      cur = "<image>\n" + cur;
    }
    if (o.single_pred_prompt) {
      qs += std::string("\n") + kSinglePred;
      cur += std::string("\n") + kSinglePred;
    }
    it.head["question_id"] = to_ordered(q["id"]);
    it.head["prompt"] = cur;
    it.question = qs;
    it.source = i;
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  return parse_tsv(read_text_file(path), path);
}

// pandas' default NA strings (read_table turns them into NaN) plus is_none's 'none' (any case).
bool is_none(const std::string& v) {
  static const char* na[] = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"};
  for (const char* n : na)
    if (v == n) return true;
  std::string low = v;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return std::tolower(c); });
  return low == "nan" || low == "none";
}

ojson index_value(const std::string& v) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (!v.empty() && end && *end == '\0') return n;
  return v;
}

std::vector<EvalItem> mmbench_items(const QuestionOptions& o) {
  const auto rows = read_tsv(o.question_file);
  IMP_CHECK(!rows.empty(), o.question_file, ": empty TSV (expected a header row)");
  const auto& header = rows[0];
  auto col = [&](const std::string& name, bool required) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    IMP_CHECK(!required || it != header.end(), o.question_file, ": no '", name, "' column (MMBench TSV format)");
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int c_index = col("index", true), c_question = col("question", true), c_hint = col("hint", false),
            c_image = col("image", true);
  const char* letters[] = {"A", "B", "C", "D"};
  int c_opt[4];
  for (int k = 0; k < 4; ++k) c_opt[k] = col(letters[k], false);
  std::vector<EvalItem> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string where = o.question_file + " row " + std::to_string(r);
    IMP_CHECK(row.size() == header.size(), where, ": ", row.size(), " fields, the header has ", header.size());
    std::vector<std::string> options, chars;
    for (int k = 0; k < 4 && c_opt[k] >= 0 && !is_none(row[c_opt[k]]); ++k) {
      options.push_back(row[c_opt[k]]);
      chars.push_back(letters[k]);
    }
    auto decoded = decode_base64(row[c_image], /*skip_whitespace=*/true);
    IMP_CHECK(decoded.error.empty(), where, ": the image is not valid base64 (", decoded.error, ")");
    const std::string image = std::move(decoded.bytes);
    const size_t rounds = o.all_rounds ? options.size() : 1;
    for (size_t round = 0; round < rounds; ++round) {
      std::string question = row[c_question];
      if (c_hint >= 0 && !is_none(row[c_hint])) question = row[c_hint] + "\n" + question;
      for (size_t k = 0; k < options.size(); ++k) question += std::string("\n") + letters[k] + ". " + options[k];
      EvalItem it;
      it.head["question_id"] = index_value(row[c_index]);
      it.head["round_id"] = round;
      it.head["prompt"] = question;
      it.tail["options"] = options;
      it.tail["option_char"] = chars;
      it.question = "<image>\n" + question;
      if (o.single_pred_prompt) it.question += std::string("\n") + (o.lang == "cn" ? kSinglePredCn : kSinglePred);
      it.image_kind = EvalItem::ImageKind::bytes;
      it.image = image;
      it.source = r - 1;
      out.push_back(std::move(it));
      if (!options.empty()) {  // rotate for the next round
        std::rotate(options.begin(), options.begin() + 1, options.end());
        std::rotate(chars.begin(), chars.begin() + 1, chars.end());
      }
    }
  }
  return out;
}

}  // namespace

std::vector<EvalItem> load_items(Engine engine, const QuestionOptions& o) {
  IMP_CHECK_KIND(!o.question_file.empty(), ErrorKind::usage, "--question-file is required");
  IMP_CHECK_KIND(path_exists(o.question_file), ErrorKind::io, o.question_file, ": no such question file");
  switch (engine) {
    case Engine::loader: return loader_items(o);
    case Engine::science: return science_items(o);
    case Engine::mmbench: return mmbench_items(o);
  }
  return {};
}

}  // namespace imp::eval
