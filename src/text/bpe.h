// The BPE model of tokenizer.json (and of GPT-2 style vocab.json + merges.txt): vocabulary, ranked
// merges, byte fallback and unknown-token fusion, applied to one pre-token at a time with the
// priority-queue merge loop of tokenizers (O(n log n) per word). A sharded, mutex-protected word
// cache makes repeated words cheap; tokenize() is const and safe to call from many threads.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json_access.h"

namespace imp::text::detail {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix, end_of_word_suffix;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
};

class Bpe {
 public:
  // vocab: token -> id; merges: ordered pairs (rank = position). Errors name `origin`.
  Bpe(std::vector<std::pair<std::string, int64_t>> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions opt, const std::string& origin);
  // The "model" object of tokenizer.json.
  static std::unique_ptr<Bpe> from_json(const Json& model, const Where& w);

  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int64_t>& out) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int64_t id) const;
  size_t vocab_size() const { return vocab_.size(); }  // number of entries, as tokenizers counts
  int64_t max_id() const { return max_id_; }           // -1 for an empty vocab

 private:
  struct Merge {
    int32_t rank, new_id;
  };
  std::optional<Merge> find_merge(int32_t a, int32_t b) const;
  void merge_word(std::string_view word, std::vector<int32_t>& ids) const;

  struct Entry {
    int32_t id;
    const std::string* token;
  };
  std::deque<std::string> storage_;  // token strings; a deque never moves them, so views stay valid
  std::unordered_map<std::string_view, Entry> vocab_;
  std::unordered_map<int32_t, const std::string*> vocab_r_;
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions opt_;
  std::optional<int32_t> unk_id_;
  int64_t max_id_ = -1;
  std::array<int32_t, 256> byte_fallback_ids_{};  // <0xHH> ids, -1 when missing

  static constexpr size_t kShards = 16, kShardCapacity = 4096, kMaxCachedWord = 256;
  struct Cached {
    std::unique_ptr<std::string> key;  // owns the bytes the map's string_view key points to
    std::vector<int32_t> ids;
  };
  struct CacheShard {
    std::mutex mu;
    std::unordered_map<std::string_view, Cached> map;
  };
  mutable std::array<CacheShard, kShards> cache_;
};

}  // namespace imp::text::detail
