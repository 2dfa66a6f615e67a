// `imp tokenize`: see include/imp/cli/tokenize.h. Lines are read in blocks and tokenized by several
// threads (the tokenizer is thread-safe); output keeps the input order.
#include "imp/cli/tokenize.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "imp/core/error.h"
#include "imp/core/json.h"
#include "imp/text/tokenizer.h"

namespace imp::cli {
namespace {

constexpr size_t kBlockLines = 4096;

// Reads whole lines from a FILE* (without the trailing '\n' or '\r\n').
class LineReader {
 public:
  explicit LineReader(std::FILE* f) : f_(f) {}
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      if (pos_ == len_) {
        if (eof_) return !line.empty();
        len_ = std::fread(buf_, 1, sizeof(buf_), f_);
        pos_ = 0;
        if (len_ == 0) {
          IMP_CHECK_KIND(!std::ferror(f_), ErrorKind::io, "stdin: read failed: ", std::strerror(errno));
          eof_ = true;
          if (!line.empty() && line.back() == '\r') line.pop_back();
          return !line.empty();
        }
      }
      const char* start = buf_ + pos_;
      const char* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
      if (nl) {
        line.append(start, static_cast<size_t>(nl - start));
        pos_ += static_cast<size_t>(nl - start) + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
      line.append(start, len_ - pos_);
      pos_ = len_;
    }
  }

 private:
  std::FILE* f_;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
};

void append_ids(std::string& out, const std::vector<int64_t>& ids) {
  out += '[';
  char num[24];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    const int n = std::snprintf(num, sizeof(num), "%lld", static_cast<long long>(ids[i]));
    out.append(num, static_cast<size_t>(n));
  }
  out += "]\n";
}

// One line in, one line of output; throws imp::Error naming the line.
std::string process_line(const text::Tokenizer& tok, const TokenizeOptions& o, const std::string& line,
                         size_t line_no) {
  const std::string where = "stdin line " + std::to_string(line_no);
  const Json j = parse_json(line, where);
  std::string out;
  if (!o.decode) {
    IMP_CHECK(j.is_string(), where, ": expected a JSON string (the text to encode), got ", j.type_name());
    append_ids(out, tok.encode(j.get_ref<const std::string&>(), o.add_special_tokens));
    return out;
  }
  IMP_CHECK(j.is_array(), where, ": expected a JSON array of token ids, got ", j.type_name());
  std::vector<int64_t> ids;
  ids.reserve(j.size());
  for (const Json& v : j) {
    IMP_CHECK(v.is_number_integer(), where, ": expected integer token ids, got ", v.type_name());
    ids.push_back(v.get<int64_t>());
  }
  out = Json(tok.decode(ids, o.skip_special_tokens)).dump(-1, ' ', false, Json::error_handler_t::replace);
  out += '\n';
  return out;
}

void write_all(std::FILE* out, const std::string& s) {
  IMP_CHECK_KIND(std::fwrite(s.data(), 1, s.size(), out) == s.size(), ErrorKind::io,
                 "stdout: write failed: ", std::strerror(errno));
}

}  // namespace

int tokenize_stream(const TokenizeOptions& o, std::FILE* in, std::FILE* out) {
  IMP_CHECK_KIND(!o.tokenizer.empty(), ErrorKind::usage, "--tokenizer is required");
  IMP_CHECK_KIND(!o.skip_special_tokens || o.decode, ErrorKind::usage, "--skip-special-tokens needs --decode");
  IMP_CHECK_KIND(!o.add_special_tokens || !o.decode, ErrorKind::usage, "--add-special-tokens is for encoding only");
  IMP_CHECK_KIND(o.threads >= 0, ErrorKind::usage, "--threads must be >= 0");
  const auto tok = text::Tokenizer::from_path(o.tokenizer);
  const size_t threads = o.threads > 0 ? static_cast<size_t>(o.threads)
                                       : std::max<size_t>(1, std::thread::hardware_concurrency());
  LineReader reader(in);
  std::vector<std::string> lines, results;
  std::vector<std::exception_ptr> errors;
  size_t first_line = 1;
  bool more = true;
  while (more) {
    lines.clear();
    std::string line;
    while (lines.size() < kBlockLines && (more = reader.next(line))) lines.push_back(line);
    if (lines.empty()) break;
    results.assign(lines.size(), std::string());
    errors.assign(lines.size(), nullptr);
    auto work = [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        try {
          results[i] = process_line(*tok, o, lines[i], first_line + i);
        } catch (...) {
          errors[i] = std::current_exception();
        }
      }
    };
    const size_t n = std::min(threads, lines.size());
    if (n <= 1) {
      work(0, lines.size());
    } else {
      std::vector<std::thread> pool;
      const size_t per = (lines.size() + n - 1) / n;
      for (size_t t = 0; t < n; ++t) pool.emplace_back(work, std::min(t * per, lines.size()), std::min((t + 1) * per, lines.size()));
      for (auto& th : pool) th.join();
    }
    std::string block;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (errors[i]) {
        write_all(out, block);  // everything before the bad line is still written
        std::fflush(out);
        std::rethrow_exception(errors[i]);
      }
      block += results[i];
    }
    write_all(out, block);
    first_line += lines.size();
  }
  IMP_CHECK_KIND(std::fflush(out) == 0, ErrorKind::io, "stdout: write failed: ", std::strerror(errno));
  return 0;
}

int run_tokenize(const TokenizeOptions& o) { return tokenize_stream(o, stdin, stdout); }

}  // namespace imp::cli
