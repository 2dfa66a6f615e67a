// tokenizer.json decoders: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip and Sequence.
// Each maps the list of token strings to a new list; the final list is concatenated.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "json_access.h"

namespace imp::text::detail {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<Decoder> parse_decoder(const Json& j, const Where& w, int depth = 0);
std::unique_ptr<Decoder> make_byte_level_decoder();

}  // namespace imp::text::detail
