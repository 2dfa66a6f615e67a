// Decoder implementations, following tokenizers 0.19 decoders/*.rs; see decoder.h.
#include "decoder.h"

#include "byte_level.h"
#include "regex.h"
#include "unicode.h"

namespace imp::text::detail {
namespace {

// Joins all tokens into one string of bytes and decodes it leniently, so a character split over
// several byte tokens comes back whole and a lone byte becomes U+FFFD.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      if (!byte_level_decode_token(t, bytes)) bytes += t;
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string rep, bool strip_first) : rep_(std::move(rep)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, rep_.size(), rep_) == 0) {
          // tokenizers drops every replacement character of the first token, not only a leading one.
          if (!(i == 0 && strip_first_)) out += ' ';
          k += rep_.size();
        } else {
          out += t[k++];
        }
      }
      tokens[i].swap(out);
    }
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      for (const auto& [sp, is_match] : matches_to_pieces(t, re_->find_all(t))) {
        if (is_match) {
          out += content_;
        } else {
          out.append(t, sp.start, sp.end - sp.start);
        }
      }
      t.swap(out);
    }
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

// "<0xHH>" tokens become bytes; a run of them that is not valid UTF-8 becomes one U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&]() {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') byte = parse_hex_byte(t.substr(3, 2));
      if (byte >= 0) {
        pending += static_cast<char>(byte);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }

 private:
  // Rust's u8::from_str_radix(s, 16): hex digits, optionally after one '+'.
  static int parse_hex_byte(const std::string& s) {
    size_t i = s[0] == '+' ? 1 : 0;
    if (i == s.size()) return -1;
    int v = 0;
    for (; i < s.size(); ++i) {
      const char c = s[i];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return -1;
      v = v * 16 + d;
    }
    return v;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(uint32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<size_t> offs;  // byte offset of each character, plus the end
      for (size_t i = 0; i < t.size(); i += utf8_len(static_cast<unsigned char>(t[i]))) offs.push_back(i);
      const size_t n = offs.size();
      offs.push_back(t.size());
      size_t start_cut = 0;
      for (size_t i = 0; i < n && i < start_; ++i) {
        if (decode_at(t, offs[i]) != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = n;
      for (size_t i = 0; i < stop_ && i < n; ++i) {
        const size_t index = n - i - 1;
        if (decode_at(t, offs[index]) != content_) break;
        stop_cut = index;
      }
      t = start_cut < stop_cut ? t.substr(offs[start_cut], offs[stop_cut] - offs[start_cut]) : std::string();
    }
  }

 private:
  uint32_t content_;
  size_t start_, stop_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

uint32_t one_char(const Json& j, const char* key, const Where& w) {
  const std::string s = as_string(require(j, key, w), w.at(key));
  IMP_CHECK(!s.empty() && is_valid_utf8(s) && utf8_len(static_cast<unsigned char>(s[0])) == s.size(), w.str(), ": ",
            key, " must be exactly one character, got '", s, "'");
  return decode_at(s, 0);
}

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }

std::unique_ptr<Decoder> parse_decoder(const Json& j, const Where& w, int depth) {
  if (j.is_null()) return nullptr;
  IMP_CHECK(depth < kMaxNesting, w.str(), ": decoders nested too deeply");
  const std::string type = type_of(j, w);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    std::string rep;
    append_utf8(rep, one_char(j, "replacement", w));
    std::string scheme = string_or(j, "prepend_scheme", "always", w);
    if (const Json* aps = find_field(j, "add_prefix_space"))
      if (!as_bool(*aps, w.at("add_prefix_space"))) scheme = "never";
    IMP_CHECK(scheme == "always" || scheme == "first" || scheme == "never", w.str(), ": unknown prepend_scheme '",
              scheme, "'");
    return std::make_unique<MetaspaceDecoder>(rep, scheme != "never");
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(regex_from_json(require(j, "pattern", w), w.at("pattern")),
                                            as_string(require(j, "content", w), w.at("content")));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(one_char(j, "content", w),
                                          static_cast<size_t>(as_int(require(j, "start", w), w.at("start"), 0, INT32_MAX)),
                                          static_cast<size_t>(as_int(require(j, "stop", w), w.at("stop"), 0, INT32_MAX)));
  }
  if (type == "Sequence") {
    const Json& arr = expect_array(require(j, "decoders", w), w.at("decoders"));
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < arr.size(); ++i) {
      auto p = parse_decoder(arr[i], w.at("decoders").at(i), depth + 1);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  IMP_FAIL(w.str(), ": unsupported decoder type '", type,
           "' (imp supports ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)");
}

}  // namespace imp::text::detail
