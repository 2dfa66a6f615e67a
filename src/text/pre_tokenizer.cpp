// Pre-tokenizer implementations, following tokenizers 0.19 (pre_tokenizers/*.rs and
// NormalizedString::split); see pre_tokenizer.h.
#include "pre_tokenizer.h"

#include <algorithm>

#include "byte_level.h"
#include "regex.h"
#include "unicode.h"

namespace imp::text::detail {
namespace {

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior parse_behavior(const std::string& s, const Where& w) {
  if (s == "Removed") return Behavior::removed;
  if (s == "Isolated") return Behavior::isolated;
  if (s == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (s == "MergedWithNext") return Behavior::merged_with_next;
  if (s == "Contiguous") return Behavior::contiguous;
  IMP_FAIL(w.str(), ": unknown split behavior '", s,
           "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

// NormalizedString::split: which spans survive a split with the given behaviour.
std::vector<Span> apply_behavior(const std::vector<std::pair<Span, bool>>& m, Behavior b) {
  std::vector<Span> acc;
  acc.reserve(m.size());
  bool previous_match = false;
  switch (b) {
    case Behavior::isolated:
      for (const auto& [sp, is_match] : m) acc.push_back(sp);
      break;
    case Behavior::removed:
      for (const auto& [sp, is_match] : m)
        if (!is_match) acc.push_back(sp);
      break;
    case Behavior::contiguous:
      for (const auto& [sp, is_match] : m) {
        if (is_match == previous_match && !acc.empty()) {
          acc.back().end = sp.end;
        } else {
          acc.push_back(sp);
        }
        previous_match = is_match;
      }
      break;
    case Behavior::merged_with_previous:
      for (const auto& [sp, is_match] : m) {
        if (is_match && !previous_match && !acc.empty()) {
          acc.back().end = sp.end;
        } else {
          acc.push_back(sp);
        }
        previous_match = is_match;
      }
      break;
    case Behavior::merged_with_next:
      for (auto it = m.rbegin(); it != m.rend(); ++it) {
        const auto& [sp, is_match] = *it;
        if (is_match && !previous_match && !acc.empty()) {
          acc.back().start = sp.start;
        } else {
          acc.push_back(sp);
        }
        previous_match = is_match;
      }
      std::reverse(acc.begin(), acc.end());
      break;
  }
  return acc;
}

void emit_spans(const Piece& p, const std::vector<Span>& spans, std::vector<Piece>& out) {
  for (const Span& sp : spans) {
    if (sp.end <= sp.start) continue;  // tokenizers drops empty pieces
    out.push_back({p.text.substr(sp.start, sp.end - sp.start), p.at_origin && sp.start == 0});
  }
}

// Every character for which pred holds is one match (tokenizers' Pattern for Fn(char) -> bool).
template <typename Pred>
std::vector<std::pair<Span, bool>> char_pieces(const std::string& s, Pred pred) {
  std::vector<Span> m;
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(static_cast<unsigned char>(s[i]));
    if (pred(decode_at(s, i))) m.push_back({i, i + n});
    i += n;
  }
  return matches_to_pieces(s, m);
}

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern, false, "ByteLevel")
                                                              : nullptr) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size());
    for (Piece& p : pieces) {
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) p.text.insert(0, " ");
      if (regex_) {
        emit_spans(p, apply_behavior(matches_to_pieces(p.text, regex_->find_all(p.text)), Behavior::isolated), out);
      } else if (!p.text.empty()) {
        out.push_back(std::move(p));
      }
    }
    std::string mapped;
    for (Piece& p : out) {
      byte_level_encode(p.text, mapped);
      p.text.swap(mapped);
    }
    pieces.swap(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class Split : public PreTokenizer {
 public:
  Split(std::unique_ptr<Regex> re, Behavior b, bool invert) : re_(std::move(re)), behavior_(b), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    for (const Piece& p : pieces) {
      auto m = matches_to_pieces(p.text, re_->find_all(p.text));
      if (invert_)
        for (auto& e : m) e.second = !e.second;
      emit_spans(p, apply_behavior(m, behavior_), out);
    }
    pieces.swap(out);
  }

 private:
  std::unique_ptr<Regex> re_;
  Behavior behavior_;
  bool invert_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Scheme { always, first, never };
  Metaspace(std::string replacement, Scheme scheme, bool split)
      : rep_(std::move(replacement)), rep_cp_(decode_at(rep_, 0)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (Piece& p : pieces) {
      std::string s;
      s.reserve(p.text.size() + rep_.size());
      for (char c : p.text) {
        if (c == ' ') {
          s += rep_;
        } else {
          s += c;
        }
      }
      const bool starts = s.compare(0, rep_.size(), rep_) == 0;
      if (!starts && (scheme_ == Scheme::always || (scheme_ == Scheme::first && p.at_origin))) s.insert(0, rep_);
      Piece np{std::move(s), p.at_origin};
      if (split_) {
        const uint32_t cp = rep_cp_;
        emit_spans(np, apply_behavior(char_pieces(np.text, [cp](uint32_t c) { return c == cp; }),
                                      Behavior::merged_with_next),
                   out);
      } else if (!np.text.empty()) {
        out.push_back(std::move(np));
      }
    }
    pieces.swap(out);
  }

 private:
  std::string rep_;
  uint32_t rep_cp_;
  Scheme scheme_;
  bool split_;
};

class Digits : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    for (const Piece& p : pieces) {
      emit_spans(p,
                 apply_behavior(char_pieces(p.text, is_numeric),
                                individual_ ? Behavior::isolated : Behavior::contiguous),
                 out);
    }
    pieces.swap(out);
  }

 private:
  bool individual_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

Metaspace::Scheme parse_scheme(const Json& j, const Where& w) {
  // Files written before tokenizers 0.19 carry add_prefix_space instead of prepend_scheme.
  std::string scheme = string_or(j, "prepend_scheme", "always", w);
  if (const Json* aps = find_field(j, "add_prefix_space")) {
    if (!as_bool(*aps, w.at("add_prefix_space"))) {
      IMP_CHECK(scheme == "never" || find_field(j, "prepend_scheme") == nullptr, w.str(),
                ": add_prefix_space false contradicts prepend_scheme '", scheme, "'");
      scheme = "never";
    }
  }
  if (scheme == "always") return Metaspace::Scheme::always;
  if (scheme == "first") return Metaspace::Scheme::first;
  if (scheme == "never") return Metaspace::Scheme::never;
  IMP_FAIL(w.str(), ": unknown prepend_scheme '", scheme, "' (expected always, first or never)");
}

std::string parse_replacement(const Json& j, const Where& w) {
  const std::string rep = as_string(require(j, "replacement", w), w.at("replacement"));
  IMP_CHECK(!rep.empty() && utf8_len(static_cast<unsigned char>(rep[0])) == rep.size() && is_valid_utf8(rep),
            w.str(), ": replacement must be exactly one character, got '", rep, "'");
  return rep;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> make_qwen2_pre_tokenizer(const std::string& origin) {
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  parts.push_back(std::make_unique<Split>(std::make_unique<Regex>(kQwen2Pattern, false, origin), Behavior::isolated,
                                          false));
  parts.push_back(std::make_unique<ByteLevel>(false, false));
  return std::make_unique<Sequence>(std::move(parts));
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const Where& w, int depth) {
  if (j.is_null()) return nullptr;
  IMP_CHECK(depth < kMaxNesting, w.str(), ": pre-tokenizers nested too deeply");
  const std::string type = type_of(j, w);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(bool_or(j, "add_prefix_space", true, w), bool_or(j, "use_regex", true, w));
  }
  if (type == "Split") {
    const Behavior b = parse_behavior(as_string(require(j, "behavior", w), w.at("behavior")), w.at("behavior"));
    return std::make_unique<Split>(regex_from_json(require(j, "pattern", w), w.at("pattern")), b,
                                   bool_or(j, "invert", false, w));
  }
  if (type == "Metaspace") {
    return std::make_unique<Metaspace>(parse_replacement(j, w), parse_scheme(j, w), bool_or(j, "split", true, w));
  }
  if (type == "Digits") return std::make_unique<Digits>(bool_or(j, "individual_digits", false, w));
  if (type == "Sequence") {
    const Json& arr = expect_array(require(j, "pretokenizers", w), w.at("pretokenizers"));
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < arr.size(); ++i) {
      auto p = parse_pre_tokenizer(arr[i], w.at("pretokenizers").at(i), depth + 1);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  IMP_FAIL(w.str(), ": unsupported pre_tokenizer type '", type,
           "' (imp supports ByteLevel, Split, Metaspace, Digits, Sequence)");
}

}  // namespace imp::text::detail
