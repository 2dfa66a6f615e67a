// tokenizer.json normalizers: NFC/NFD/NFKC/NFKD, Prepend, Replace and Sequence (what Qwen2 and the
// Llama-style Phi-3 file use). Anything else is refused with a clear "unsupported" error rather
// than silently tokenizing differently from Python.
#pragma once

#include <memory>
#include <string>

#include "json_access.h"

namespace imp::text::detail {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites valid UTF-8 text in place.
  virtual void normalize(std::string& s) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const Where& w, int depth = 0);

}  // namespace imp::text::detail
