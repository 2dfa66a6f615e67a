// Added-token vocabulary and matching, following tokenizers 0.19 tokenizer/added_vocabulary.rs.
#include "added_vocab.h"

#include <algorithm>

#include "bpe.h"
#include "normalizer.h"
#include "unicode.h"

namespace imp::text::detail {
namespace {

// Start of the run of whitespace that ends `s` (regex \s*$), or s.size() when there is none.
size_t trailing_space_start(std::string_view s) {
  size_t i = s.size();
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
    if (!is_white_space(decode_at(s, j))) break;
    i = j;
  }
  return i;
}

// Length of the run of whitespace that starts `s` (regex ^\s*).
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = utf8_len(static_cast<unsigned char>(s[i]));
    if (!is_white_space(decode_at(s, i))) break;
    i += n;
  }
  return i;
}

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t j = s.size() - 1;
  while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
  return is_word_char(decode_at(s, j));
}

bool starts_with_word(std::string_view s) { return !s.empty() && is_word_char(decode_at(s, 0)); }

}  // namespace

int32_t AddedVocab::Trie::child(int32_t node, unsigned char b) const {
  const auto& e = nodes[node].edges;
  auto it = std::lower_bound(e.begin(), e.end(), std::make_pair(b, INT32_MIN));
  return it != e.end() && it->first == b ? it->second : -1;
}

void AddedVocab::Trie::build(const std::vector<std::pair<std::string, int64_t>>& patterns) {
  nodes.assign(1, Node{});
  ids.clear();
  for (const auto& [text, id] : patterns) {
    if (text.empty()) continue;
    int32_t cur = 0;
    for (char ch : text) {
      const auto b = static_cast<unsigned char>(ch);
      int32_t nx = child(cur, b);
      if (nx < 0) {
        nx = static_cast<int32_t>(nodes.size());
        nodes.emplace_back();
        auto& e = nodes[cur].edges;
        e.insert(std::lower_bound(e.begin(), e.end(), std::make_pair(b, INT32_MIN)), {b, nx});
      }
      cur = nx;
    }
    // With duplicate patterns the first one wins, as in aho-corasick.
    if (nodes[cur].pattern < 0) {
      nodes[cur].pattern = static_cast<int32_t>(ids.size());
      ids.push_back(id);
    }
  }
}

std::optional<int64_t> AddedVocab::token_to_id(std::string_view content, const Bpe& model) const {
  auto it = map_.find(std::string(content));
  if (it != map_.end()) return it->second;
  return model.token_to_id(content);
}

const AddedToken* AddedVocab::find(int64_t id) const {
  auto it = map_r_.find(id);
  return it == map_r_.end() ? nullptr : &it->second;
}

bool AddedVocab::contains_equal(const AddedToken& t) const {
  for (const auto& [id, existing] : map_r_)
    if (existing == t) return true;
  return false;
}

int64_t AddedVocab::max_id() const {
  int64_t m = -1;
  for (const auto& [c, id] : map_) m = std::max(m, id);
  return m;
}

void AddedVocab::add_tokens(const std::vector<AddedToken>& tokens, const Bpe& model, const Normalizer* normalizer) {
  for (const AddedToken& t : tokens) {
    if (t.special && !t.content.empty() && special_set_.insert(t.content).second) special_.push_back(t);
  }
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    if (contains_equal(t)) continue;
    int64_t new_id;
    if (auto existing = token_to_id(t.content, model)) {
      new_id = *existing;
    } else {
      const int64_t vs = static_cast<int64_t>(model.vocab_size());
      const int64_t mx = max_id();
      new_id = mx < 0 ? vs : (mx >= vs || vs == 0 ? mx + 1 : vs);
    }
    map_[t.content] = new_id;
    map_r_[new_id] = t;
    if (!special_set_.count(t.content)) added_.push_back(t);
  }
  refresh(model, normalizer);
}

void AddedVocab::refresh(const Bpe& model, const Normalizer* normalizer) {
  std::vector<std::pair<std::string, int64_t>> raw, norm;
  auto collect = [&](const std::vector<AddedToken>& list) {
    for (const AddedToken& t : list) {
      const int64_t id = *token_to_id(t.content, model);
      if (t.normalized) {
        std::string n = t.content;
        if (normalizer) normalizer->normalize(n);
        norm.emplace_back(std::move(n), id);
      } else {
        raw.emplace_back(t.content, id);
      }
    }
  };
  collect(special_);
  collect(added_);
  raw_trie_.build(raw);
  normalized_trie_.build(norm);
}

void AddedVocab::split(std::string_view s, bool normalized_tokens, std::vector<Segment>& out) const {
  const Trie& trie = normalized_tokens ? normalized_trie_ : raw_trie_;
  if (trie.empty()) {
    if (!s.empty()) out.push_back({0, s.size(), -1});
    return;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    // Longest pattern starting at pos.
    int32_t node = 0, best = -1;
    size_t best_len = 0;
    for (size_t k = pos; k < s.size(); ++k) {
      node = trie.child(node, static_cast<unsigned char>(s[k]));
      if (node < 0) break;
      if (trie.nodes[node].pattern >= 0) {
        best = trie.nodes[node].pattern;
        best_len = k + 1 - pos;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + best_len;
    pos = stop;  // the next search starts after this match, whatever is kept of it
    const int64_t id = trie.ids[best];
    auto found = map_r_.find(id);
    const AddedToken tok = found == map_r_.end() ? AddedToken{} : found->second;
    if (tok.single_word) {
      const bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
      const bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (tok.rstrip) stop += leading_space_len(s.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, id});
    start_offset = stop;
  }
  if (start_offset < s.size()) out.push_back({start_offset, s.size(), -1});
}

}  // namespace imp::text::detail
