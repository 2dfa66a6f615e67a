// Normalizer implementations; see normalizer.h.
#include "normalizer.h"

#include <vector>

#include "regex.h"
#include "unicode.h"

namespace imp::text::detail {
namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm f) : form_(f) {}
  void normalize(std::string& s) const override { s = normalize_unicode(s, form_); }

 private:
  NormalForm form_;
};

// Prepends only to non-empty text (tokenizers does the same), so an empty piece stays empty.
class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

class Replace : public Normalizer {
 public:
  Replace(std::unique_ptr<Regex> re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  void normalize(std::string& s) const override {
    const std::vector<Span> m = re_->find_all(s);
    if (m.empty()) return;
    std::string out;
    out.reserve(s.size() + m.size() * content_.size());
    size_t prev = 0;
    for (const Span& sp : m) {
      out.append(s, prev, sp.start - prev);
      out += content_;
      prev = sp.end;
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const Where& w, int depth) {
  if (j.is_null()) return nullptr;
  IMP_CHECK(depth < kMaxNesting, w.str(), ": normalizers nested too deeply");
  const std::string type = type_of(j, w);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::nfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::nfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::nfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::nfkd);
  if (type == "Prepend") return std::make_unique<Prepend>(as_string(require(j, "prepend", w), w.at("prepend")));
  if (type == "Replace") {
    return std::make_unique<Replace>(regex_from_json(require(j, "pattern", w), w.at("pattern")),
                                     as_string(require(j, "content", w), w.at("content")));
  }
  if (type == "Sequence") {
    const Json& arr = expect_array(require(j, "normalizers", w), w.at("normalizers"));
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < arr.size(); ++i) {
      auto p = parse_normalizer(arr[i], w.at("normalizers").at(i), depth + 1);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  IMP_FAIL(w.str(), ": unsupported normalizer type '", type,
           "' (imp supports NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)");
}

}  // namespace imp::text::detail
