// Activation (gradient) checkpointing, as torch.utils.checkpoint with use_reentrant=True and
// preserve_rng_state=True: fn runs without keeping its activations; backward reruns it with the same
// RNG and autocast state and backpropagates through the recomputation (parameter gradients accumulate
// as usual).
#pragma once

#include <functional>

#include <torch/torch.h>

namespace imp::nn {

torch::Tensor checkpoint(std::function<torch::Tensor(const torch::Tensor&)> fn, const torch::Tensor& x);
// The same over several inputs (each gets its gradient; all are kept for the recomputation).
torch::Tensor checkpoint(std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn,
                         const std::vector<torch::Tensor>& xs);

}  // namespace imp::nn
