// Added tokens (tokenizers' AddedVocabulary): tokens matched in the raw or normalized text before
// pre-tokenization, longest match first, honouring lstrip / rstrip / single_word / normalized,
// and the id assignment rules of tokenizers (existing vocab entry, else max added id + 1, else
// the model's vocab size). The special flag decides what decode(skip_special_tokens) drops.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace imp::text::detail {

class Bpe;
class Normalizer;

struct AddedToken {
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
  bool operator==(const AddedToken& o) const {
    return content == o.content && single_word == o.single_word && lstrip == o.lstrip && rstrip == o.rstrip &&
           normalized == o.normalized && special == o.special;
  }
};

// A piece of text, or an added token (id >= 0) found in it.
struct Segment {
  size_t start, end;
  int64_t id;  // -1 for plain text
};

class AddedVocab {
 public:
  // tokenizers' AddedVocabulary::add_tokens, followed by a rebuild of both matchers.
  void add_tokens(const std::vector<AddedToken>& tokens, const Bpe& model, const Normalizer* normalizer);

  std::optional<int64_t> token_to_id(std::string_view content, const Bpe& model) const;
  const AddedToken* find(int64_t id) const;
  // Whether a token equal in content and every flag is already registered.
  bool contains_equal(const AddedToken& t) const;
  bool contains_content(const std::string& content) const { return map_.count(content) > 0; }
  bool is_special(std::string_view content) const { return special_set_.count(std::string(content)) > 0; }
  int64_t max_id() const;  // -1 when empty

  // Splits `text` at the added tokens: from the raw text (normalized=false tokens) or from a
  // normalized piece (normalized=true tokens, matched by their normalized form).
  void split(std::string_view text, bool normalized_tokens, std::vector<Segment>& out) const;

 private:
  // Leftmost-longest matcher over byte strings (the Aho-Corasick mode tokenizers uses).
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> edges;  // sorted by byte
      int32_t pattern = -1;
    };
    std::vector<Node> nodes;
    std::vector<int64_t> ids;  // per pattern
    void build(const std::vector<std::pair<std::string, int64_t>>& patterns);
    bool empty() const { return ids.empty(); }
    int32_t child(int32_t node, unsigned char b) const;
  };
  void refresh(const Bpe& model, const Normalizer* normalizer);

  std::unordered_map<std::string, int64_t> map_;
  std::unordered_map<int64_t, AddedToken> map_r_;
  std::vector<AddedToken> added_, special_;  // in insertion order, as tokenizers keeps them
  std::unordered_set<std::string> special_set_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace imp::text::detail
