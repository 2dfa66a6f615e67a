// The single-sequence effect of a tokenizer.json post_processor: the ids it puts before and after
// the text when special tokens are requested (TemplateProcessing, RobertaProcessing,
// BertProcessing; ByteLevel adds none; Sequence combines them).
#pragma once

#include <cstdint>
#include <vector>

#include "json_access.h"

namespace imp::text::detail {

struct PostProcess {
  std::vector<int64_t> prefix, suffix;
};

PostProcess parse_post_processor(const Json& j, const Where& w, int depth = 0);

}  // namespace imp::text::detail
