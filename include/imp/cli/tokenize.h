// `imp tokenize`: JSON Lines in, JSON Lines out, through imp's tokenizer engine.
//   encode (default): each input line is a JSON string -> a JSON array of ids
//   --decode:         each input line is a JSON array of ids -> a JSON string
#pragma once

#include <cstdio>
#include <string>

namespace imp::cli {

struct TokenizeOptions {
  std::string tokenizer;  // model directory or tokenizer.json
  bool decode = false, add_special_tokens = false, skip_special_tokens = false;
  int threads = 0;  // worker threads for a block of lines; 0 = all cores
};

// Reads stdin, writes stdout. A malformed line throws imp::Error naming its line number.
int run_tokenize(const TokenizeOptions& o);
// The same over explicit streams (tests).
int tokenize_stream(const TokenizeOptions& o, std::FILE* in, std::FILE* out);

}  // namespace imp::cli
