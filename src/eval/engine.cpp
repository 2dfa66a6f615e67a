// run_eval: question file -> chunk -> resume -> batched generation -> answer lines; see engine.h.
#include "imp/eval/engine.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/data/conversation.h"
#include "imp/data/preprocess.h"
#include "imp/eval/generate.h"

namespace imp::eval {
namespace {

namespace fs = std::filesystem;

// shortuuid.uuid(): 22 characters of its 57-letter alphabet.
std::string short_uuid(std::mt19937_64& rng) {
  static const char* alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::uniform_int_distribution<int> pick(0, 56);
  std::string s(22, ' ');
  for (auto& c : s) c = alphabet[pick(rng)];
  return s;
}

// The keywords of KeywordsStoppingCriteria: model_vqa_loader picks them per backbone (by directory
// name in Python, by config.json's model_type here); the science and MMBench scripts use "</s>".
std::vector<std::string> stop_keywords(Engine engine, Arch arch) {
  if (engine != Engine::loader) return {"</s>"};
  switch (arch) {
    case Arch::phi2: return {"</s>"};
    case Arch::qwen2: return {"<|im_end|>"};
    case Arch::phi3: return {"<|end|>"};
  }
  return {"</s>"};
}

void validate(const EvalOptions& o) {
  auto usage = [](bool ok, const std::string& msg) { IMP_CHECK_KIND(ok, ErrorKind::usage, msg); };
  usage(!o.session.model_path.empty(), "--model-path is required");
  usage(!o.question_file.empty(), "--question-file is required");
  usage(!o.answers_file.empty(), "--answers-file is required");
  usage(o.num_beams == 1, "--num_beams " + std::to_string(o.num_beams) +
                              ": only 1 is supported (every Imp evaluation script uses 1)");
  usage(o.batch_size >= 1, "--batch-size must be >= 1");
  usage(o.temperature >= 0, "--temperature must be >= 0 (0 = greedy)");
  usage(!o.top_p || (*o.top_p > 0 && *o.top_p <= 1), "--top_p must be in (0, 1]");
  usage(o.top_k >= 0, "--top_k must be >= 0");
  usage(!o.max_new_tokens || *o.max_new_tokens >= 1, "--max_new_tokens must be >= 1");
  usage(o.lang == "en" || o.lang == "cn", "--lang must be en or cn, got '" + o.lang + "'");
}

// Answers already in the file: complete, parseable lines that answer the chunk's first questions in
// order. A torn last line (the process died mid-write) is cut off. Returns how many to skip.
size_t resume(const std::string& path, const std::vector<EvalItem>& items, std::ostream& log) {
  if (!path_exists(path)) return 0;
  const std::string text = read_text_file(path);
  size_t count = 0, good_end = 0, at = 0;
  while (at < text.size()) {
    const size_t nl = text.find('\n', at);
    if (nl == std::string::npos) break;  // no newline: torn
    const std::string line = text.substr(at, nl - at);
    Json j;
    try {
      j = parse_json(line, path, json_limits::eval_data);
    } catch (const Error&) {
      IMP_CHECK(text.find('\n', nl + 1) == std::string::npos, path, ": line ", count + 1,
                " is not valid JSON\nhint: fix the file or pass --overwrite to start again");
      break;  // the last line is torn
    }
    IMP_CHECK(count < items.size(), path, " holds more answers than this chunk has questions (", items.size(),
              ")\nhint: wrong --answers-file or --chunk-idx, or pass --overwrite");
    const auto& want = items[count].head;
    const bool same = j.contains("question_id") && j["question_id"].dump() == want["question_id"].dump() &&
                      (!want.contains("round_id") || (j.contains("round_id") && j["round_id"].dump() == want["round_id"].dump()));
    IMP_CHECK(same, path, ": answer ", count + 1, " is for question_id ", j.value("question_id", Json()).dump(),
              " but question ", count + 1, " of this chunk is ", want["question_id"].dump(),
              "\nhint: the answers belong to another question file or chunk; pass --overwrite to start again");
    ++count;
    good_end = nl + 1;
    at = nl + 1;
  }
  if (good_end != text.size()) {
    log << "imp eval: " << path << ": dropping a torn last line (" << text.size() - good_end << " bytes)\n";
    fs::resize_file(path, good_end);
  }
  return count;
}

}  // namespace

EvalSummary run_eval(const EvalOptions& o, std::ostream& log) {
  validate(o);
  const Engine engine = engine_for(o.benchmark, o.question_file);
  if (!o.conv_mode.empty()) data::get_template(o.conv_mode);  // a bad name fails before the model loads
  auto all = load_items(engine, o);
  // (a last MMBench row without options has no rounds and is not counted; real files always have options)
  const size_t rows = all.empty() ? 0 : all.back().source + 1;
  const auto [begin, end] = chunk_range(rows, o.num_chunks, o.chunk_idx);
  std::vector<EvalItem> items;
  for (auto& it : all)
    if (it.source >= begin && it.source < end) items.push_back(std::move(it));

  EvalSummary sum;
  sum.questions = items.size();
  const fs::path answers(o.answers_file);
  if (answers.has_parent_path()) fs::create_directories(answers.parent_path());
  if (o.overwrite && path_exists(o.answers_file)) fs::remove(answers);
  sum.resumed = resume(o.answers_file, items, log);
  std::ofstream out(o.answers_file, std::ios::app | std::ios::binary);
  IMP_CHECK_KIND(out.good(), ErrorKind::io, o.answers_file, ": cannot open the answers file for writing");
  log << "imp eval: " << engine_name(engine) << " engine, " << items.size() << " questions in chunk " << o.chunk_idx
      << "/" << o.num_chunks;
  if (sum.resumed) log << ", " << sum.resumed << " already answered";
  log << "\n";
  if (sum.resumed == items.size()) return sum;

  Session s = Session::open(o.session);
  const std::string conv_mode = o.conv_mode.empty() ? default_conv_mode(s.arch) : o.conv_mode;
  const auto& tmpl = data::get_template(conv_mode);
  GenerationConfig g;
  g.max_new_tokens = o.max_new_tokens.value_or(engine == Engine::loader ? 2000 : 1024);
  g.temperature = o.temperature;
  g.top_p = o.top_p.value_or(1.0);
  g.top_k = o.top_k;
  g.seed = o.seed;
  g.eos_ids = s.ids.eos;
  g.stop_strings = stop_keywords(engine, s.arch);
  const std::string model_id = model_name_from_path(o.session.model_path);
  Generator gen(*s.model, *s.tokenizer);
  std::mt19937_64 rng(std::random_device{}());

  // Prompts and pixels of batch i; the next batch is prepared on another thread while the current one
  // generates (Python overlaps image loading the same way with DataLoader workers).
  auto build = [&](size_t i) {
    const size_t n = std::min(items.size() - i, static_cast<size_t>(o.batch_size));
    std::vector<Prompt> prompts(n);
    for (size_t k = 0; k < n; ++k) {
      const EvalItem& it = items[i + k];
      prompts[k].input_ids = data::tokenizer_image_token(data::render(tmpl, {it.question, ""}), *s.tokenizer);
      if (it.image_kind == EvalItem::ImageKind::file)
        prompts[k].pixels = s.pixels_from_file(it.image, it.aspect);
      else if (it.image_kind == EvalItem::ImageKind::bytes)
        prompts[k].pixels = s.pixels_from_bytes(it.image, o.question_file + " question " +
                                                              it.head["question_id"].dump(), it.aspect);
    }
    return prompts;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto next = std::async(std::launch::async, build, sum.resumed);
  for (size_t i = sum.resumed; i < items.size(); i += static_cast<size_t>(o.batch_size)) {
    const auto prompts = next.get();
    const size_t n = prompts.size();
    if (i + n < items.size()) next = std::async(std::launch::async, build, i + n);
    const auto results = gen.generate(prompts, g);
    std::string lines;
    for (size_t k = 0; k < n; ++k) {
      nlohmann::ordered_json line = items[i + k].head;
      line["text"] = finish_answer(engine, conv_mode, results[k].text);
      for (auto it = items[i + k].tail.begin(); it != items[i + k].tail.end(); ++it) line[it.key()] = it.value();
      line["answer_id"] = short_uuid(rng);
      line["model_id"] = model_id;
      line["metadata"] = nlohmann::ordered_json::object();
      lines += python_json_dumps(line) + "\n";
      sum.new_tokens += static_cast<int64_t>(results[k].ids.size());
    }
    out << lines;
    out.flush();
    IMP_CHECK_KIND(out.good(), ErrorKind::io, o.answers_file, ": write failed (disk full?)");
    sum.answered += n;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log << "imp eval: " << sum.resumed + sum.answered << "/" << items.size() << " answered ("
        << (secs > 0 ? sum.answered / secs : 0.0) << " questions/s)\n";
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace imp::eval
