// Sample -> (input_ids, labels) exactly as Imp's train.py builds them: tokenizer_image_token (each
// text chunk tokenized on its own, -200 between), the preprocess_{phi2,qwen2,phi3,plain} label rules
// with their +1/-1 corrections, and the "tokenization mismatch -> whole sample masked" rule. Unlike
// Python, the mismatch is reported in the result so callers can count and name it. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imp/data/conversation.h"
#include "imp/text/tokenizer.h"

namespace imp::data {

// Text settings of a run: the template and the tokenizer limits train.py sets up.
struct TextSettings {
  std::string version = "phi2";       // --version: phi2, qwen1.5, phi3, plain
  int64_t model_max_length = 3072;    // --model_max_length
  int64_t pad_id = 0;                 // tokenizer.pad_token_id after train.py's adjustments
};

// Configures a loaded tokenizer the way train.py does for `version` (Phi-2: pad = unk and the "</s>"
// special token added as EOS; Qwen: unk = pad; plain: pad = unk) and returns the settings.
TextSettings prepare_tokenizer(text::Tokenizer& tok, const std::string& version, int64_t model_max_length);

// mm_utils.tokenizer_image_token: "<image>" -> -200, chunks tokenized separately with special tokens.
std::vector<int64_t> tokenizer_image_token(const std::string& prompt, const text::Tokenizer& tok);

struct Encoded {
  std::vector<int64_t> input_ids, labels;
  bool mismatch = false;       // the whole sample was masked ("tokenization mismatch")
  int64_t cur_len = 0, total_len = 0;
};

// preprocess_multimodal (for image samples) + preprocess(): throws imp::Error (input) for records
// Python would crash on (unknown roles, roles not alternating, no turns, odd qwen/phi3 message counts,
// plain samples without exactly two turns and an <image>).
Encoded preprocess(const Record& record, const text::Tokenizer& tok, const TextSettings& settings);

}  // namespace imp::data
