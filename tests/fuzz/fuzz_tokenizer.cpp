// libFuzzer target for the tokenizer.json loader and the encode/decode pipeline. The input is
// "<tokenizer.json text>\xff\xff<text to encode>" (without the marker the whole input is the JSON and
// a few fixed strings are encoded). A sanitizer report or any exception other than imp::Error is a
// crash; so is a decode of freshly encoded ids that is not valid UTF-8. Built and run by
// tests/fuzz/run_fuzzers.sh; seeds are small tokenizer.json files with Imp's real pipelines.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "imp/core/error.h"
#include "imp/text/tokenizer.h"
#include "../../src/text/unicode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t marker = input.find("\xff\xff");
  const std::string json = input.substr(0, marker);
  std::string texts[] = {marker == std::string::npos ? std::string("Hello  world<|im_end|>\n\t1234 caf\xc3\xa9 \xe4\xbd\xa0")
                                                     : input.substr(marker + 2),
                         "", " <s></s>", "<|endoftext|>\xe2\x96\x81x"};
  std::shared_ptr<imp::text::Tokenizer> tok;
  try {
    tok = imp::text::Tokenizer::from_json_text(json, "fuzz.json");
  } catch (const imp::Error&) {
    return 0;
  }
  for (const std::string& text : texts) {
    try {
      for (bool special : {false, true}) {
        const auto ids = tok->encode(text, special);
        for (bool skip : {false, true}) {
          if (!imp::text::detail::is_valid_utf8(tok->decode(ids, skip))) std::abort();
        }
      }
    } catch (const imp::Error&) {
    }
  }
  (void)tok->vocab_size();
  (void)tok->id_to_token(0);
  return 0;
}
