// When generation stops: the EOS ids of a model directory (generation_config.json, as HF generate reads
// them) and LLaVA's KeywordsStoppingCriteria (imp-reference 7.1), evaluated per sequence. Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "imp/text/tokenizer.h"

namespace imp::eval {

// The ids HF generate takes from a model directory: generation_config.json's eos_token_id (an id or a
// list) and pad_token_id, else config.json's. Missing both: no EOS (generation runs to max_new_tokens).
struct GenerationIds {
  std::vector<int64_t> eos;
  std::optional<int64_t> pad;
};
GenerationIds read_generation_ids(const std::string& model_dir);

// KeywordsStoppingCriteria on the tokens generated so far (the prompt never counts): stops when the
// last ids equal a keyword's ids (tokenizer(keyword) with add_special_tokens, a leading BOS removed) or
// when decode(last min(n, longest keyword ids) ids, skip_special_tokens) contains a keyword.
class KeywordStop {
 public:
  KeywordStop() = default;
  KeywordStop(std::vector<std::string> keywords, const text::Tokenizer& tok);
  bool hit(const std::vector<int64_t>& generated, const text::Tokenizer& tok) const;
  bool empty() const { return keywords_.empty(); }
  const std::vector<std::string>& keywords() const { return keywords_; }

 private:
  std::vector<std::string> keywords_;
  std::vector<std::vector<int64_t>> ids_;
  size_t max_len_ = 0;
};

// Python's str.strip(): ASCII whitespace plus the Unicode spaces str.isspace() knows.
std::string strip(const std::string& s);

}  // namespace imp::eval
