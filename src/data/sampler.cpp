// Samplers; see sampler.h.
#include "imp/data/sampler.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "imp/core/error.h"

namespace imp::data {
namespace {

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// llava_trainer.split_to_even_chunks: greedy by accumulated length, or strided when uneven.
std::vector<std::vector<int64_t>> split_even(const std::vector<int64_t>& idx, const std::vector<int64_t>& len,
                                             int64_t chunks) {
  std::vector<std::vector<int64_t>> out(chunks);
  if (static_cast<int64_t>(idx.size()) % chunks != 0) {
    for (size_t i = 0; i < idx.size(); ++i) out[i % chunks].push_back(idx[i]);
    return out;
  }
  const size_t per = idx.size() / chunks;
  std::vector<double> total(chunks, 0.0);
  for (int64_t i : idx) {
    const size_t c = std::min_element(total.begin(), total.end()) - total.begin();
    out[c].push_back(i);
    total[c] += static_cast<double>(len[i]);
    if (out[c].size() == per) total[c] = std::numeric_limits<double>::infinity();
  }
  return out;
}

// llava_trainer.get_length_grouped_indices over `lengths` (all positive), returning positions.
std::vector<int64_t> length_grouped(const std::vector<int64_t>& lengths, int64_t batch, int64_t world, Rng& rng) {
  const auto perm = rng.permutation(lengths.size());
  const size_t mega = static_cast<size_t>(batch * world);
  std::vector<int64_t> out;
  for (size_t b = 0; b < perm.size(); b += mega) {
    std::vector<int64_t> m(perm.begin() + b, perm.begin() + std::min(perm.size(), b + mega));
    std::stable_sort(m.begin(), m.end(), [&](int64_t x, int64_t y) { return lengths[x] > lengths[y]; });
    for (auto& chunk : split_even(m, lengths, world)) out.insert(out.end(), chunk.begin(), chunk.end());
  }
  return out;
}

std::vector<int64_t> modality_grouped(const std::vector<int64_t>& lengths, int64_t batch, int64_t world, Rng& rng) {
  std::vector<int64_t> mm, lang, mm_len, lang_len;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] > 0) mm.push_back(i), mm_len.push_back(lengths[i]);
    else lang.push_back(i), lang_len.push_back(-lengths[i]);
  }
  if (mm.empty() || lang.empty()) {
    const auto& l = mm.empty() ? lang_len : mm_len;
    const auto& ids = mm.empty() ? lang : mm;
    std::vector<int64_t> out;
    for (int64_t p : length_grouped(l, batch, world, rng)) out.push_back(ids[p]);
    return out;
  }
  auto shuffled = [&](const std::vector<int64_t>& ids, const std::vector<int64_t>& l) {
    std::vector<int64_t> out;
    for (int64_t p : length_grouped(l, batch, world, rng)) out.push_back(ids[p]);
    return out;
  };
  const auto mm_order = shuffled(mm, mm_len), lang_order = shuffled(lang, lang_len);
  const size_t mega = static_cast<size_t>(batch * world);
  auto cut = [&](const std::vector<int64_t>& v) {
    std::vector<std::vector<int64_t>> out;
    for (size_t b = 0; b < v.size(); b += mega) out.emplace_back(v.begin() + b, v.begin() + std::min(v.size(), b + mega));
    return out;
  };
  auto mm_mega = cut(mm_order), lang_mega = cut(lang_order);
  // The two last (possibly partial) megabatches are interleaved into one final megabatch.
  const auto last_mm = mm_mega.back(), last_lang = lang_mega.back();
  std::vector<int64_t> extra;
  for (size_t i = 0; i < std::min(last_mm.size(), last_lang.size()); ++i) extra.push_back(last_mm[i]), extra.push_back(last_lang[i]);
  for (size_t i = last_lang.size(); i < last_mm.size(); ++i) extra.push_back(last_mm[i]);
  for (size_t i = last_mm.size(); i < last_lang.size(); ++i) extra.push_back(last_lang[i]);
  std::vector<std::vector<int64_t>> megas(mm_mega.begin(), mm_mega.end() - 1);
  megas.insert(megas.end(), lang_mega.begin(), lang_mega.end() - 1);
  std::vector<int64_t> out;
  for (int64_t m : rng.permutation(megas.size())) out.insert(out.end(), megas[m].begin(), megas[m].end());
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::below(uint64_t n) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t x;
  do x = next();
  while (x >= limit);
  return x % n;
}

std::vector<int64_t> Rng::permutation(size_t n) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (size_t i = n; i > 1; --i) std::swap(p[i - 1], p[below(i)]);
  return p;
}

SamplerKind parse_sampler(const std::string& name) {
  if (name == "sequential") return SamplerKind::sequential;
  if (name == "random") return SamplerKind::random;
  if (name == "modality_grouped") return SamplerKind::modality_grouped;
  throw Error("unknown sampler '" + name + "'; expected sequential, random or modality_grouped", ErrorKind::usage);
}

std::vector<int64_t> epoch_order(SamplerKind kind, size_t n, uint64_t seed, int64_t epoch,
                                 const std::vector<int64_t>& lengths, int64_t batch_size, int64_t world_size) {
  IMP_CHECK_KIND(batch_size > 0 && world_size > 0, ErrorKind::usage, "batch size and world size must be positive");
  Rng rng(seed * 1000003ull + static_cast<uint64_t>(epoch));
  switch (kind) {
    case SamplerKind::sequential: {
      std::vector<int64_t> out(n);
      std::iota(out.begin(), out.end(), 0);
      return out;
    }
    case SamplerKind::random: return rng.permutation(n);
    case SamplerKind::modality_grouped:
      IMP_CHECK(lengths.size() == n, "modality_grouped sampler: ", lengths.size(), " lengths for ", n, " samples");
      return modality_grouped(lengths, batch_size, world_size, rng);
  }
  return {};
}

std::vector<std::vector<int64_t>> rank_batches(const std::vector<int64_t>& order_in, int64_t batch_size, int64_t rank,
                                               int64_t world_size) {
  const size_t round = static_cast<size_t>(batch_size * world_size);
  std::vector<int64_t> order = order_in;
  // accelerate's even_batches: a partial last round is completed from the start of the order.
  for (size_t i = 0; !order_in.empty() && order.size() % round != 0; ++i) order.push_back(order_in[i % order_in.size()]);
  std::vector<std::vector<int64_t>> out;
  for (size_t b = 0; b < order.size(); b += round) {
    auto first = order.begin() + b + rank * batch_size;
    out.emplace_back(first, first + batch_size);
  }
  return out;
}

}  // namespace imp::data
