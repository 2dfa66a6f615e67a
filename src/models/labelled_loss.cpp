// Labelled-rows-only, chunked cross-entropy; see labelled_loss.h.
#include "imp/models/labelled_loss.h"

#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/nn/checkpoint.h"

namespace imp {

torch::Tensor labelled_loss_sum(CausalLM& lm, const torch::Tensor& hidden, const torch::Tensor& labels,
                                int64_t chunk_rows) {
  IMP_CHECK(chunk_rows > 0, "labelled_loss_sum: chunk_rows must be positive, got ", chunk_rows);
  IMP_CHECK(hidden.dim() == 3 && labels.dim() == 2 && hidden.size(0) == labels.size(0) &&
                hidden.size(1) == labels.size(1),
            "labelled_loss_sum: hidden ", hidden.sizes(), " and labels ", labels.sizes(), " do not match");
  auto h = hidden.slice(1, 0, -1).reshape({-1, hidden.size(-1)});
  auto y = labels.slice(1, 1).reshape({-1}).to(hidden.device());
  const auto rows = y.ne(kIgnoreIndex).nonzero().squeeze(1);
  h = h.index_select(0, rows);
  y = y.index_select(0, rows);
  const int64_t n = rows.size(0);
  const bool recompute = n > chunk_rows && torch::GradMode::is_enabled() && h.requires_grad();
  torch::Tensor total;
  for (int64_t start = 0; start == 0 || start < n; start += chunk_rows) {
    const int64_t end = std::min(n, start + chunk_rows);
    const auto target = y.slice(0, start, end);
    auto score = [&lm, target](const torch::Tensor& x) {
      return torch::nn::functional::cross_entropy(
          lm.logits(x), target, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    };
    auto part = recompute ? nn::checkpoint(score, h.slice(0, start, end)) : score(h.slice(0, start, end));
    total = total.defined() ? total + part : part;
  }
  return total;
}

}  // namespace imp
