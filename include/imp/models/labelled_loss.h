// Next-token cross-entropy computed only where there is a label: the final hidden states of the labelled
// positions are gathered first, then projected through lm_head and scored in chunks of rows, so no
// [tokens, vocab] logits tensor is ever built (docs/training-flags.md, `logits_chunk_size`).
#pragma once

#include <torch/torch.h>

#include "imp/models/language_model.h"

namespace imp {

// Sum over positions t with labels[:, t+1] != -100 of -log softmax(lm_head(hidden[:, t]))[labels[:, t+1]]
// (fp32 logits, as causal_lm_loss). `hidden` is the decoder's normed output [B,T,H], `labels` [B,T].
// At most `chunk_rows` rows are projected at once; with more labelled rows than that, each chunk is
// recomputed in the backward pass (nn::checkpoint) instead of keeping its logits. Always returns a tensor
// attached to the graph (0 when nothing is labelled).
torch::Tensor labelled_loss_sum(CausalLM& lm, const torch::Tensor& hidden, const torch::Tensor& labels,
                                int64_t chunk_rows);

}  // namespace imp
