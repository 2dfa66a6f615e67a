// The Tokenizer implementation behind Tokenizer::from_path: the tokenizers pipeline (added tokens
// -> normalizer -> added tokens on normalized text -> pre-tokenizer -> BPE -> post-processor) and
// its decode (ids -> token strings -> decoder chain -> transformers' clean-up).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "added_vocab.h"
#include "bpe.h"
#include "decoder.h"
#include "imp/text/tokenizer.h"
#include "normalizer.h"
#include "post_processor.h"
#include "pre_tokenizer.h"

namespace imp::text::detail {

struct Pipeline {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Bpe> model;
  std::unique_ptr<Decoder> decoder;
  PostProcess post;
  std::string origin;  // the file the tokenizer came from, for error messages
};

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(Pipeline p) : p_(std::move(p)) {}

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = false) const override;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const override;
  std::optional<int64_t> token_to_id(const std::string& token) const override;
  std::string id_to_token(int64_t id) const override;
  int64_t vocab_size() const override;
  bool is_special(int64_t id) const override;
  int64_t add_special_token(const std::string& content) override;

  // Loader hooks.
  void add_tokens(const std::vector<AddedToken>& tokens) { added_.add_tokens(tokens, *p_.model, p_.normalizer.get()); }
  const AddedVocab& added() const { return added_; }
  const Pipeline& pipeline() const { return p_; }
  // When false, add_special_tokens uses the post-processor's own prefix/suffix ids instead of the
  // public add_bos/add_eos flags (templates that are not just "BOS $A EOS").
  bool post_via_flags = true;

 private:
  const std::string* token_string(int64_t id) const;
  void encode_segment(std::string_view text, bool at_origin, std::vector<int64_t>& out) const;

  Pipeline p_;
  AddedVocab added_;
};

}  // namespace imp::text::detail
