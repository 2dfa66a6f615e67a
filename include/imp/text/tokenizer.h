// Tokenizer: HF tokenizer.json (and vocab.json + merges.txt) read by imp's own engine, no Python and no
// sentencepiece library (it crashes beside Debian's LibTorch). Byte-level BPE (Phi-2/CodeGen with
// the GPT-2 regex, Qwen2 with its regex and NFC) and SentencePiece-style BPE with metaspace and
// byte fallback (Phi-3/Llama). Immutable after loading except for add_special_token; encode/decode
// are const and thread-safe. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imp::text {

struct SpecialTokens {
  std::optional<int64_t> bos, eos, pad, unk;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `path` is a directory (tokenizer.json or vocab.json + merges.txt, plus tokenizer_config.json,
  // special_tokens_map.json, added_tokens.json when present) or a tokenizer.json file.
  static std::shared_ptr<Tokenizer> from_path(const std::string& path);
  // The text of a tokenizer.json, with no companion files (the fuzzer and tests load from memory).
  // `origin` names the source in errors.
  static std::shared_ptr<Tokenizer> from_json_text(const std::string& json, const std::string& origin);

  // Encodes UTF-8 text (invalid UTF-8 throws imp::Error). With add_special_tokens, BOS/EOS are added
  // as tokenizer_config.json's add_bos_token / add_eos_token (or the post_processor) say.
  virtual std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = false) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const = 0;

  virtual std::optional<int64_t> token_to_id(const std::string& token) const = 0;
  virtual std::string id_to_token(int64_t id) const = 0;  // "" when out of range
  virtual int64_t vocab_size() const = 0;                 // including added tokens
  virtual bool is_special(int64_t id) const = 0;

  // Adds a special token (as HF add_special_tokens does: a new id = vocab_size() unless it exists)
  // and returns its id. Imp adds "</s>" to Phi-2's tokenizer this way (id 50295).
  virtual int64_t add_special_token(const std::string& content) = 0;

  SpecialTokens special;  // resolved from the tokenizer files; callers may override (Imp sets pad = unk)
  bool add_bos = false, add_eos = false;
  // transformers' decode() clean-up (" ." -> ".", " n't" -> "n't", ...): tokenizer_config.json's
  // clean_up_tokenization_spaces, true when absent (transformers 4.41's default; Phi-2 sets true,
  // Qwen1.5 and Phi-3 false).
  bool clean_up_tokenization_spaces = false;
};

}  // namespace imp::text
