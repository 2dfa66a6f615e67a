// tokenizer.json pre-tokenizers: ByteLevel (GPT-2 regex optional), Split (regex or literal, all
// five delimiter behaviours, invert), Metaspace, Digits and Sequence. They cut a normalized piece
// of text into the words the BPE model sees; the BPE never merges across two of them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "json_access.h"

namespace imp::text::detail {

struct Piece {
  std::string text;
  // Whether the piece starts at offset 0 of the original input (Metaspace prepend_scheme "first").
  // Tracked per split: a piece cut out after a prepended character counts as not at the start.
  bool at_origin = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their pre-tokens, dropping empty ones (as tokenizers does).
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const Where& w, int depth = 0);

// The pre-tokenizer of GPT-2-style vocab.json + merges.txt directories and of Qwen2's tokenizer.
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_qwen2_pre_tokenizer(const std::string& origin);

}  // namespace imp::text::detail
