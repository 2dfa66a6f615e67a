// Batched generation with a KV cache; see generate.h.
#include "imp/eval/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>

#include "imp/core/dtype.h"
#include "imp/core/error.h"

namespace imp::eval {
namespace {

// One prompt -> decoder inputs [1,L,H] (the image splice of imp-reference 1.5, truncated to
// tokenizer_model_max_length like Python).
torch::Tensor splice_one(ImpModel& model, const Prompt& p, const torch::Tensor& image_embeds, const torch::Device& dev) {
  IMP_CHECK(!p.input_ids.empty(), "generation needs a non-empty prompt");
  auto ids = torch::tensor(p.input_ids, torch::kInt64).view({1, -1}).to(dev);
  const int64_t max_id = ids.max().item<int64_t>();
  IMP_CHECK(max_id < model.lm->config().vocab_size, "the prompt holds token id ", max_id,
            ", outside the model's vocabulary of ", model.lm->config().vocab_size,
            "; the tokenizer does not belong to this model");
  return model.splice(ids, {}, {}, image_embeds).embeds;
}

int64_t count_images(const std::vector<int64_t>& ids) {
  return static_cast<int64_t>(std::count(ids.begin(), ids.end(), kImageTokenIndex));
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::eos: return "eos";
    case StopReason::stop_string: return "stop_string";
    case StopReason::length: return "length";
  }
  return "?";
}

torch::Tensor warp_logits(const torch::Tensor& logits, const GenerationConfig& cfg) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto x = logits;
  if (cfg.sampling() && cfg.temperature != 1.0) x = x / cfg.temperature;
  if (cfg.top_k > 0) {
    const int64_t k = std::min(cfg.top_k, x.size(-1));
    auto kth = std::get<0>(torch::topk(x, k, -1)).select(-1, k - 1).unsqueeze(-1);
    x = x.masked_fill(x < kth, neg_inf);
  }
  if (cfg.top_p < 1.0) {
    auto [sorted, order] = torch::sort(x, -1, /*descending=*/false);
    auto cum = sorted.softmax(-1).cumsum(-1);
    auto remove = cum <= (1.0 - cfg.top_p);
    remove.select(-1, remove.size(-1) - 1).fill_(false);  // keep at least one token
    x = x.masked_fill(remove.scatter(-1, order, remove), neg_inf);
  }
  return x;
}

DecodeBatch DecodeBatch::prefill(ImpModel& model, const std::vector<Prompt>& prompts) {
  IMP_CHECK(!prompts.empty(), "prefill needs at least one prompt");
  torch::NoGradGuard no_grad;
  CausalLM& lm = *model.lm;
  const auto dev = model.device();
  // Images of the whole batch in one tower call, then one splice per prompt.
  std::vector<torch::Tensor> pixels;
  for (const auto& p : prompts) {
    const int64_t n = count_images(p.input_ids);
    const int64_t have = p.pixels.defined() ? p.pixels.size(0) : 0;
    IMP_CHECK(n == have, "a prompt has ", n, " <image> tokens but ", have, " images");
    if (n) pixels.push_back(p.pixels);
  }
  torch::Tensor image_embeds;
  if (!pixels.empty()) {
    IMP_CHECK(model.projector, "the prompt has images but the model has no vision tower/projector");
    image_embeds = model.encode_images(torch::cat(pixels).to(dev)).second;
  }
  std::vector<torch::Tensor> embeds;
  int64_t slot = 0;
  for (const auto& p : prompts) {
    const int64_t n = count_images(p.input_ids);
    embeds.push_back(splice_one(model, p, n ? image_embeds.slice(0, slot, slot + n) : torch::Tensor(), dev));
    slot += n;
  }

  // Left padding: real tokens at the right, positions cumsum(mask) - 1 (0 on the padding).
  const int64_t batch = static_cast<int64_t>(prompts.size());
  int64_t len = 0;
  for (auto& e : embeds) len = std::max(len, e.size(1));
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  auto x = torch::zeros({batch, len, embeds[0].size(2)}, embeds[0].options());
  DecodeBatch out;
  out.mask = torch::zeros({batch, len}, i64);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = embeds[b].size(1);
    x[b].slice(0, len - n).copy_(embeds[b][0]);
    out.mask[b].slice(0, len - n).fill_(1);
  }
  auto positions = (out.mask.cumsum(1) - 1).clamp_min(0);
  out.last_pos = positions.select(1, len - 1).clone();
  auto hidden = lm.forward_hidden(x, out.mask, positions, &out.cache);
  out.logits = lm.logits(hidden.select(1, len - 1));  // [B,V] fp32
  return out;
}

void DecodeBatch::step(CausalLM& lm, const std::vector<int64_t>& tokens) {
  torch::NoGradGuard no_grad;
  const int64_t n = rows();
  IMP_CHECK(static_cast<int64_t>(tokens.size()) == n, "decode step: ", tokens.size(), " tokens for ", n, " rows");
  const auto dev = mask.device();
  mask = torch::cat({mask, torch::ones({n, 1}, mask.options())}, 1);
  last_pos = last_pos + 1;
  auto ids = torch::tensor(tokens, torch::kInt64).to(dev).view({n, 1});
  auto hidden = lm.forward_hidden(lm.embed(ids), mask, last_pos.view({n, 1}), &cache);
  logits = lm.logits(hidden.select(1, 0));
}

void DecodeBatch::keep(const std::vector<int64_t>& rows_kept) {
  if (static_cast<int64_t>(rows_kept.size()) == rows()) return;
  if (rows_kept.empty()) {
    *this = DecodeBatch();
    return;
  }
  auto idx = torch::tensor(rows_kept, torch::kInt64).to(mask.device());
  mask = mask.index_select(0, idx);
  // Columns that are padding in every kept row (the left of a cache whose long rows left) go too.
  const int64_t drop = (mask.sum(0) > 0).to(torch::kInt64).argmax().item<int64_t>();
  mask = mask.slice(1, drop);
  last_pos = last_pos.index_select(0, idx);
  logits = logits.index_select(0, idx);
  for (size_t i = 0; i < cache.keys.size(); ++i) {
    cache.keys[i] = cache.keys[i].index_select(0, idx).slice(2, drop);
    cache.values[i] = cache.values[i].index_select(0, idx).slice(2, drop);
  }
}

void DecodeBatch::append(DecodeBatch&& o) {
  if (o.rows() == 0) return;
  if (rows() == 0) {
    *this = std::move(o);
    return;
  }
  IMP_CHECK(cache.keys.size() == o.cache.keys.size(), "decode batches of different models cannot be joined");
  // Left-pads [B,S] or [B,H,S,D] to `len` columns along dim `d`.
  auto pad_left = [](const torch::Tensor& t, int64_t d, int64_t len) {
    if (t.size(d) == len) return t;
    auto shape = t.sizes().vec();
    shape[d] = len - t.size(d);
    return torch::cat({torch::zeros(shape, t.options()), t}, d);
  };
  const int64_t len = std::max(mask.size(1), o.mask.size(1));
  mask = torch::cat({pad_left(mask, 1, len), pad_left(o.mask, 1, len)}, 0);
  last_pos = torch::cat({last_pos, o.last_pos}, 0);
  logits = torch::cat({logits, o.logits}, 0);
  for (size_t i = 0; i < cache.keys.size(); ++i) {
    cache.keys[i] = torch::cat({pad_left(cache.keys[i], 2, len), pad_left(o.cache.keys[i], 2, len)}, 0);
    cache.values[i] = torch::cat({pad_left(cache.values[i], 2, len), pad_left(o.cache.values[i], 2, len)}, 0);
  }
  o = DecodeBatch();
}

std::vector<Generation> Generator::generate(const std::vector<Prompt>& prompts, const GenerationConfig& cfg,
                                            const TokenCallback& on_token) const {
  IMP_CHECK(model_.lm, "generation needs a model with a language model (this directory holds a vision tower only)");
  IMP_CHECK_KIND(cfg.max_new_tokens >= 0, ErrorKind::usage, "max_new_tokens must be >= 0");
  std::vector<Generation> out(prompts.size());
  if (prompts.empty() || cfg.max_new_tokens == 0) return out;
  torch::NoGradGuard no_grad;
  const KeywordStop keywords(cfg.stop_strings, tok_);
  const bool sample = cfg.sampling();
  at::Generator rng = at::make_generator<at::CPUGeneratorImpl>(cfg.seed);
  DecodeBatch batch = DecodeBatch::prefill(model_, prompts);

  std::vector<int64_t> active(prompts.size());  // prompt index of every row still decoding
  for (size_t b = 0; b < active.size(); ++b) active[b] = static_cast<int64_t>(b);
  for (int64_t step = 0; step < cfg.max_new_tokens; ++step) {
    torch::Tensor next;
    if (sample) {
      auto probs = warp_logits(batch.logits, cfg).softmax(-1).to(torch::kCPU);
      next = torch::multinomial(probs, 1, /*replacement=*/false, rng).view({-1});
    } else {
      next = batch.logits.argmax(-1).to(torch::kCPU);
    }
    const auto next_ids = std::vector<int64_t>(next.data_ptr<int64_t>(), next.data_ptr<int64_t>() + next.numel());
    std::vector<int64_t> keep_rows, keep, tokens;
    for (size_t r = 0; r < active.size(); ++r) {
      Generation& g = out[active[r]];
      g.ids.push_back(next_ids[r]);
      bool done = true;
      if (std::find(cfg.eos_ids.begin(), cfg.eos_ids.end(), next_ids[r]) != cfg.eos_ids.end())
        g.reason = StopReason::eos;
      else if (keywords.hit(g.ids, tok_))
        g.reason = StopReason::stop_string;
      else
        done = false;
      if (on_token) on_token(static_cast<size_t>(active[r]), g.ids);
      if (!done) {
        keep_rows.push_back(static_cast<int64_t>(r));
        keep.push_back(active[r]);
        tokens.push_back(next_ids[r]);
      }
    }
    if (keep.empty() || step + 1 == cfg.max_new_tokens) break;
    batch.keep(keep_rows);
    active = keep;
    batch.step(*model_.lm, tokens);
  }
  for (auto& g : out) g.text = strip(tok_.decode(g.ids, /*skip_special_tokens=*/true));
  return out;
}

std::string TextStream::next(const std::vector<int64_t>& ids, bool final) {
  std::string text = tok_.decode(ids, /*skip_special_tokens=*/true);
  static const std::string kReplacement = "\xef\xbf\xbd";
  if (!final && text.size() >= kReplacement.size() &&
      text.compare(text.size() - kReplacement.size(), kReplacement.size(), kReplacement) == 0)
    return "";
  // Decoding a longer list can rewrite the end of the earlier text (clean_up_tokenization_spaces turns
  // "a " + "." into "a."): continue after the common prefix, which never drops new text.
  size_t common = 0;
  while (common < printed_.size() && common < text.size() && printed_[common] == text[common]) ++common;
  std::string piece = text.substr(common);
  printed_ = std::move(text);
  return piece;
}

}  // namespace imp::eval
