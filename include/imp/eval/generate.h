// Text generation with an ImpModel: the prompt (with <image> = -200 ids) is spliced with its images,
// left-padded into a batch (positions cumsum(mask) - 1) and decoded with a KV cache. Greedy decoding is
// argmax (ties -> first index); sampling applies temperature, top-k, top-p in HF's order and draws from a
// seeded CPU generator. Every sequence stops on its own (EOS id, stop string, max_new_tokens), so a
// batch produces the same tokens as batch size 1 (up to floating-point ties).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/eval/stopping.h"
#include "imp/models/imp_model.h"
#include "imp/text/tokenizer.h"

namespace imp::eval {

// Temperatures below this decode greedily, as vLLM does (its _SAMPLING_EPS): logits / 1e-45 overflow to inf and
// the probabilities to NaN, and any temperature this small already puts all probability on the argmax.
inline constexpr double kGreedyTemperature = 1e-5;

struct GenerationConfig {
  int64_t max_new_tokens = 128;
  double temperature = 0.0;  // below kGreedyTemperature (0 included): greedy
  double top_p = 1.0;        // sampling only; 1 = off
  int64_t top_k = 0;         // sampling only; 0 = off
  uint64_t seed = 0;         // sampling only
  std::vector<int64_t> eos_ids;
  std::vector<std::string> stop_strings;  // KeywordsStoppingCriteria keywords
  bool sampling() const { return temperature >= kGreedyTemperature; }
};

struct Prompt {
  std::vector<int64_t> input_ids;  // -200 where an image goes
  torch::Tensor pixels;            // float [N,3,S,S], one per -200 (undefined for text-only prompts)
};

enum class StopReason { eos, stop_string, length };
const char* stop_reason_name(StopReason r);

struct Generation {
  std::vector<int64_t> ids;  // new tokens, including the EOS / the token that completed a stop string
  std::string text;          // decode(ids, skip_special_tokens).strip()
  StopReason reason = StopReason::length;
};

// The rows of a batch being decoded with a KV cache: left-padded (real tokens at the right), positions
// cumsum(mask) - 1, and the logits of each row's next token. Rows can leave (keep) and join (append) between
// steps, which is what continuous batching (eval/chat_engine.h) needs; Generator uses the same pieces.
struct DecodeBatch {
  nn::KVCache cache;
  torch::Tensor mask;      // int64 [B,S], 1 = token, 0 = padding
  torch::Tensor last_pos;  // int64 [B], position of each row's last token
  torch::Tensor logits;    // fp32 [B,V], next-token logits
  int64_t rows() const { return mask.defined() ? mask.size(0) : 0; }

  // Splices the prompts' images (one tower call for all), left-pads and runs the prompts (truncated to the
  // model's tokenizer_model_max_length like Python).
  static DecodeBatch prefill(ImpModel& model, const std::vector<Prompt>& prompts);
  // Feeds one token per row (int64 values, in row order) and updates the logits.
  void step(CausalLM& lm, const std::vector<int64_t>& tokens);
  // Keeps only `rows` (ascending indices), dropping cache columns that are padding in every kept row.
  void keep(const std::vector<int64_t>& rows);
  // Appends the rows of `other` after this batch's rows (the shorter cache is left-padded).
  void append(DecodeBatch&& other);
};

// Called after every decoding step with (sequence index in the batch, its new tokens so far).
using TokenCallback = std::function<void(size_t, const std::vector<int64_t>&)>;

class Generator {
 public:
  Generator(ImpModel& model, const text::Tokenizer& tok) : model_(model), tok_(tok) {}
  std::vector<Generation> generate(const std::vector<Prompt>& prompts, const GenerationConfig& cfg,
                                   const TokenCallback& on_token = {}) const;

 private:
  ImpModel& model_;
  const text::Tokenizer& tok_;
};

// HF's warpers on fp32 logits [B,V]: temperature, then top-k, then top-p (filtered entries -inf).
torch::Tensor warp_logits(const torch::Tensor& logits, const GenerationConfig& cfg);

// Streams a growing token list as text: returns the part of decode(ids) not returned before, holding
// back an incomplete UTF-8 character (a trailing U+FFFD) until the next token completes it (or final).
class TextStream {
 public:
  explicit TextStream(const text::Tokenizer& tok) : tok_(tok) {}
  std::string next(const std::vector<int64_t>& ids, bool final = false);

 private:
  const text::Tokenizer& tok_;
  std::string printed_;
};

}  // namespace imp::eval
