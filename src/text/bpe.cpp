// BPE model; follows tokenizers 0.19 models/bpe/{model,word}.rs step by step (see bpe.h).
#include "bpe.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "unicode.h"

namespace imp::text::detail {
namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Symbol {
  int32_t id;
  int32_t prev, next;  // linked list over the word; -1 at the ends
  bool alive;
};

struct QueueEntry {
  int32_t rank, pos, new_id;
};
// std::priority_queue pops the largest: "larger" = lower rank, then lower position (as in word.rs).
struct QueueOrder {
  bool operator()(const QueueEntry& a, const QueueEntry& b) const {
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.pos > b.pos;
  }
};

}  // namespace

Bpe::Bpe(std::vector<std::pair<std::string, int64_t>> vocab,
         const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions opt, const std::string& origin)
    : opt_(std::move(opt)) {
  vocab_.reserve(vocab.size() * 2);
  for (auto& [tok, id] : vocab) {
    IMP_CHECK(id >= 0 && id <= INT32_MAX, origin, ": vocab id ", id, " of '", tok, "' is out of range");
    IMP_CHECK(is_valid_utf8(tok), origin, ": a vocab token is not valid UTF-8");
    storage_.push_back(std::move(tok));
    const std::string* stored = &storage_.back();
    // A repeated key keeps the last id (a JSON object with duplicate keys, as serde reads it).
    vocab_[std::string_view(*stored)] = {static_cast<int32_t>(id), stored};
  }
  for (const auto& [key, e] : vocab_) {
    vocab_r_[e.id] = e.token;
    max_id_ = std::max<int64_t>(max_id_, e.id);
  }
  if (opt_.unk_token) {
    auto it = vocab_.find(*opt_.unk_token);
    if (it != vocab_.end()) unk_id_ = it->second.id;
  }
  byte_fallback_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    static const char* hex = "0123456789ABCDEF";
    const std::string code = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
    auto it = vocab_.find(code);
    if (it != vocab_.end()) byte_fallback_ids_[b] = it->second.id;
  }
  merges_.reserve(merges.size() * 2);
  const size_t prefix_len = opt_.continuing_subword_prefix.size();
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    IMP_CHECK(ia != vocab_.end(), origin, ": merge ", i, " ('", a, "' '", b, "') uses '", a, "', which is not in the vocab");
    IMP_CHECK(ib != vocab_.end(), origin, ": merge ", i, " ('", a, "' '", b, "') uses '", b, "', which is not in the vocab");
    IMP_CHECK(b.size() >= prefix_len, origin, ": merge ", i, ": '", b, "' is shorter than the continuing_subword_prefix");
    const std::string merged = a + b.substr(prefix_len);
    auto im = vocab_.find(merged);
    IMP_CHECK(im != vocab_.end(), origin, ": merge ", i, " ('", a, "' '", b, "') makes '", merged,
              "', which is not in the vocab");
    // A repeated pair keeps its last rank, like the HashMap tokenizers builds.
    merges_[pair_key(ia->second.id, ib->second.id)] = {static_cast<int32_t>(i), im->second.id};
  }
}

std::unique_ptr<Bpe> Bpe::from_json(const Json& m, const Where& w) {
  const std::string type = string_or(m, "type", "BPE", w);
  IMP_CHECK(type == "BPE", w.str(), ": unsupported model type '", type,
            "' (imp supports BPE; WordPiece, Unigram and WordLevel tokenizers are not used by Imp)");
  if (const Json* d = find_field(m, "dropout")) {
    IMP_CHECK(d->is_number() && d->get<double>() == 0.0, w.str(),
              ": BPE dropout must be null (dropout makes tokenization random)");
  }
  BpeOptions opt;
  if (const Json* u = find_field(m, "unk_token")) opt.unk_token = as_string(*u, w.at("unk_token"));
  opt.continuing_subword_prefix = string_or(m, "continuing_subword_prefix", "", w);
  opt.end_of_word_suffix = string_or(m, "end_of_word_suffix", "", w);
  opt.fuse_unk = bool_or(m, "fuse_unk", false, w);
  opt.byte_fallback = bool_or(m, "byte_fallback", false, w);
  opt.ignore_merges = bool_or(m, "ignore_merges", false, w);

  const Json& jv = expect_object(require(m, "vocab", w), w.at("vocab"));
  std::vector<std::pair<std::string, int64_t>> vocab;
  vocab.reserve(jv.size());
  for (auto it = jv.begin(); it != jv.end(); ++it) {
    vocab.emplace_back(it.key(), as_int(it.value(), w.at("vocab").at(it.key()), 0, INT32_MAX));
  }
  // Merges are "a b" strings (tokenizers <= 0.19) or ["a", "b"] pairs (0.20 and later).
  const Json& jm = expect_array(require(m, "merges", w), w.at("merges"));
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(jm.size());
  for (size_t i = 0; i < jm.size(); ++i) {
    const Json& e = jm[i];
    const Where wi = w.at("merges").at(i);
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ');
      IMP_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, wi.str(),
                ": a merge must be two tokens separated by one space, got '", s, "'");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      IMP_CHECK(e.is_array() && e.size() == 2, wi.str(), ": a merge must be \"a b\" or [\"a\", \"b\"]");
      merges.emplace_back(as_string(e[0], wi.at(0)), as_string(e[1], wi.at(1)));
    }
  }
  return std::make_unique<Bpe>(std::move(vocab), merges, std::move(opt), w.origin);
}

std::optional<int64_t> Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second.id;
}

const std::string* Bpe::id_to_token(int64_t id) const {
  if (id < 0 || id > INT32_MAX) return nullptr;
  auto it = vocab_r_.find(static_cast<int32_t>(id));
  return it == vocab_r_.end() ? nullptr : it->second;
}

std::optional<Bpe::Merge> Bpe::find_merge(int32_t a, int32_t b) const {
  auto it = merges_.find(pair_key(a, b));
  if (it == merges_.end()) return std::nullopt;
  return it->second;
}

void Bpe::merge_word(std::string_view w, std::vector<int32_t>& ids) const {
  // 1. One symbol per character (model.rs merge_word), with byte fallback and unk fusion.
  std::vector<Symbol> sym;
  sym.reserve(w.size());
  int32_t pending_unk = -1;  // an unk not yet emitted (fuse_unk extends it)
  auto add = [&sym](int32_t id) {
    const int32_t pos = static_cast<int32_t>(sym.size());
    sym.push_back({id, pos - 1, -1, true});
    if (pos > 0) sym[pos - 1].next = pos;
  };
  const bool affixes = !opt_.continuing_subword_prefix.empty() || !opt_.end_of_word_suffix.empty();
  std::string piece;
  for (size_t i = 0; i < w.size();) {
    const size_t n = std::min(utf8_len(static_cast<unsigned char>(w[i])), w.size() - i);
    std::string_view s = w.substr(i, n);
    if (affixes) {
      piece.clear();
      if (i != 0) piece += opt_.continuing_subword_prefix;
      piece.append(s.data(), s.size());
      if (i + n == w.size()) piece += opt_.end_of_word_suffix;
      s = piece;
    }
    i += n;
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      if (pending_unk >= 0) {
        add(pending_unk);
        pending_unk = -1;
      }
      add(it->second.id);
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (char c : s) all = all && byte_fallback_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        // As in tokenizers, a pending unk is not flushed here: it is emitted after these bytes.
        for (char c : s) add(byte_fallback_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (opt_.unk_token) {
      IMP_CHECK(unk_id_.has_value(), "tokenizer: unk_token '", *opt_.unk_token, "' is not in the vocab");
      if (pending_unk >= 0 && !opt_.fuse_unk) add(pending_unk);
      if (pending_unk < 0 || !opt_.fuse_unk) pending_unk = *unk_id_;
    }
    // Without an unk token the character is dropped, as tokenizers does.
  }
  if (pending_unk >= 0) add(pending_unk);

  // 2. Merge the lowest-ranked adjacent pair first (leftmost on ties) until none applies (word.rs).
  std::priority_queue<QueueEntry, std::vector<QueueEntry>, QueueOrder> queue;
  for (size_t p = 0; p + 1 < sym.size(); ++p) {
    if (auto m = find_merge(sym[p].id, sym[p + 1].id)) queue.push({m->rank, static_cast<int32_t>(p), m->new_id});
  }
  while (!queue.empty()) {
    const QueueEntry top = queue.top();
    queue.pop();
    Symbol& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    const int32_t next_pos = cur.next;
    // Skip stale entries: the pair at this position changed since the entry was queued.
    auto m = find_merge(cur.id, sym[next_pos].id);
    if (!m || m->new_id != top.new_id) continue;
    cur.id = top.new_id;
    sym[next_pos].alive = false;
    cur.next = sym[next_pos].next;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (auto pm = find_merge(sym[cur.prev].id, cur.id)) queue.push({pm->rank, cur.prev, pm->new_id});
    }
    if (cur.next >= 0) {
      if (auto nm = find_merge(cur.id, sym[cur.next].id)) queue.push({nm->rank, top.pos, nm->new_id});
    }
  }
  for (const Symbol& s : sym)
    if (s.alive) ids.push_back(s.id);
}

void Bpe::tokenize(std::string_view word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kMaxCachedWord;
  CacheShard* shard = nullptr;
  if (cacheable) {
    shard = &cache_[std::hash<std::string_view>()(word) % kShards];
    std::lock_guard<std::mutex> lock(shard->mu);
    auto it = shard->map.find(word);
    if (it != shard->map.end()) {
      out.insert(out.end(), it->second.ids.begin(), it->second.ids.end());
      return;
    }
  }
  if (opt_.ignore_merges) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second.id);
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard->mu);
    // Like tokenizers' cache, stop inserting once full instead of evicting.
    if (shard->map.size() < kShardCapacity && shard->map.find(word) == shard->map.end()) {
      auto key = std::make_unique<std::string>(word);
      const std::string_view view = *key;
      shard->map.emplace(view, Cached{std::move(key), std::move(ids)});
    }
  }
}

}  // namespace imp::text::detail
