// LLaVA JSON records; see records.h.
#include "imp/data/records.h"

#include <thread>

#include "imp/core/error.h"
#include "imp/core/fs.h"

namespace imp::data {
namespace {

[[noreturn]] void syntax(const char* data, size_t at, const std::string& origin, const std::string& what) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < at; ++i) {
    if (data[i] == '\n') ++line, col = 1;
    else ++col;
  }
  throw Error(origin + ":" + std::to_string(line) + ":" + std::to_string(col) + ": malformed JSON: " + what,
              ErrorKind::input);
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

int64_t count_words(const std::string& s) {
  int64_t n = 0;
  bool in_word = false;
  for (unsigned char c : s) {
    const bool space = c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

// Streams one record to get its modality length without building a DOM (the whole 665K-record file
// is measured at open): words of every conversations[*].value, +700 with an image, negative without.
class LengthSax : public nlohmann::json_sax<Json> {
 public:
  int64_t length() const { return has_image_ ? words_ + 700 : -words_; }
  bool null() override { return value(false); }
  bool boolean(bool) override { return value(true); }
  bool number_integer(number_integer_t) override { return value(true); }
  bool number_unsigned(number_unsigned_t) override { return value(true); }
  bool number_float(number_float_t, const string_t&) override { return value(true); }
  bool binary(binary_t&) override { return value(true); }
  bool string(string_t& v) override {
    if (depth_ == 3 && in_conversations_ && key_ == "value") words_ += count_words(v);
    return value(true);
  }
  bool start_object(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    in_conversations_ = depth_ == 1 && key_ == "conversations";
    ++depth_;
    return true;
  }
  bool end_array() override {
    if (--depth_ == 1) in_conversations_ = false;
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool value(bool non_null) {
    if (depth_ == 1 && key_ == "image" && non_null) has_image_ = true;
    return true;
  }
  int depth_ = 0;
  bool in_conversations_ = false, has_image_ = false;
  std::string key_;
  int64_t words_ = 0;
};

}  // namespace

std::vector<std::pair<size_t, size_t>> scan_json_array(const char* d, size_t n, const std::string& origin) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t i = 0;
  auto skip = [&] {
    while (i < n && is_space(d[i])) ++i;
  };
  skip();
  if (i >= n || d[i] != '[') syntax(d, i, origin, "the dataset must be a JSON list of records");
  ++i;
  skip();
  if (i < n && d[i] == ']') {
    ++i;
  } else {
    while (true) {
      skip();
      const size_t begin = i;
      int depth = 0;
      bool in_string = false;
      // Walk one element: strings (with escapes) and bracket depth; the element's own grammar is
      // checked later by the JSON parser.
      for (; i < n; ++i) {
        const char c = d[i];
        if (in_string) {
          if (c == '\\') ++i;
          else if (c == '"') in_string = false;
          continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') {
          if (depth == 0) break;
          if (--depth == 0) { ++i; break; }
        } else if (c == ',' && depth == 0) break;
      }
      if (in_string || depth != 0) syntax(d, std::min(i, n), origin, "unterminated record (truncated file?)");
      size_t end = i;
      while (end > begin && is_space(d[end - 1])) --end;
      if (end == begin) syntax(d, begin, origin, "empty list element");
      spans.emplace_back(begin, end);
      skip();
      if (i < n && d[i] == ',') { ++i; continue; }
      if (i < n && d[i] == ']') { ++i; break; }
      syntax(d, i, origin, "expected ',' or ']' after a record");
    }
  }
  skip();
  if (i != n) syntax(d, i, origin, "unexpected data after the closing ']'");
  return spans;
}

Record parse_record(const Json& j, const std::string& origin) {
  IMP_CHECK(j.is_object(), origin, ": a record must be a JSON object, got ", j.type_name());
  Record r;
  auto id = j.find("id");
  if (id != j.end()) {
    IMP_CHECK(id->is_string() || id->is_number_integer(), origin, ": 'id' must be a string or an integer");
    r.id = id->is_string() ? id->get<std::string>() : id->dump();
  }
  auto image = j.find("image");
  if (image != j.end() && !image->is_null()) {
    IMP_CHECK(image->is_string() && !image->get<std::string>().empty(), origin, ": 'image' must be a non-empty string");
    const std::string p = image->get<std::string>();
    IMP_CHECK(p[0] != '/' && p.find("..") == std::string::npos, origin, ": image path '", p,
              "' must be relative to --image_folder without '..'");
    r.image = p;
  }
  auto conv = j.find("conversations");
  IMP_CHECK(conv != j.end() && conv->is_array() && !conv->empty(), origin,
            ": 'conversations' must be a non-empty list of {\"from\", \"value\"}");
  for (const auto& t : *conv) {
    IMP_CHECK(t.is_object() && t.contains("from") && t.contains("value") && t.at("from").is_string() &&
                  t.at("value").is_string(),
              origin, ": every turn needs string fields 'from' and 'value'");
    r.conversations.push_back({t.at("from").get<std::string>(), t.at("value").get<std::string>()});
  }
  return r;
}

RecordFile RecordFile::open(const std::string& path) {
  RecordFile f;
  f.path_ = path;
  f.text_ = read_text_file(path);
  f.spans_ = scan_json_array(f.text_.data(), f.text_.size(), path);
  if (path.find("llava_v1_5_mix665k.json") != std::string::npos && f.spans_.size() > 247644) {
    // train.py: del list[247644]; del list[245723] (two samples that break tokenization).
    f.spans_.erase(f.spans_.begin() + 247644);
    f.spans_.erase(f.spans_.begin() + 245723);
  }
  // Modality lengths on all cores; a record that does not parse gets 0 (it is reported when used).
  f.lengths_.resize(f.spans_.size(), 0);
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&f, t, threads] {
      for (size_t i = t; i < f.spans_.size(); i += threads) {
        LengthSax sax;
        const auto [b, e] = f.spans_[i];
        if (Json::sax_parse(f.text_.begin() + b, f.text_.begin() + e, &sax)) f.lengths_[i] = sax.length();
      }
    });
  }
  for (auto& th : pool) th.join();
  return f;
}

Json RecordFile::json(size_t i, const std::string& origin) const {
  IMP_CHECK(i < spans_.size(), path_, ": record ", i, " out of range (", spans_.size(), " records)");
  const auto [b, e] = spans_[i];
  return parse_json_strict(text_.substr(b, e - b), origin, json_limits::dataset_record);
}

Record RecordFile::get(size_t i) const {
  const std::string origin = path_ + " record " + std::to_string(i);
  return parse_record(json(i, origin), origin);
}

std::string RecordFile::id_of(size_t i) const {
  try {
    const Json j = json(i, path_);
    auto id = j.is_object() ? j.find("id") : j.end();
    if (id != j.end() && (id->is_string() || id->is_number_integer()))
      return id->is_string() ? id->get<std::string>() : id->dump();
  } catch (const Error&) {
  }
  return "";
}

}  // namespace imp::data
