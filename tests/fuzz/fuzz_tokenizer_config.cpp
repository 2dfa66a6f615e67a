// libFuzzer target: tokenizer_config.json and special_tokens_map.json, loaded by Tokenizer::from_path
// next to a fixed byte-level BPE tokenizer.json, then encode/decode. The input is
// "<tokenizer_config.json>\xff\xff<special_tokens_map.json>" (a file without its part is absent).
// Only imp::Error may escape; a decode that is not valid UTF-8 is a crash too.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "imp/core/error.h"
#include "imp/text/tokenizer.h"
#include "../../src/text/unicode.h"
#include "scratch.h"

namespace {

// tests/fuzz/corpus/tokenizer/qwen2: Qwen2's pipeline with a small vocabulary.
const char* const kTokenizerJson = R"json({"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":2000,"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":2001,"content":"<|im_start|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":2002,"content":"<|im_end|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]},"post_processor":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false},"decoder":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false},"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":"","end_of_word_suffix":"","fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":{"!":0,"\"":1,"#":2,"$":3,"%":4,"&":5,"'":6,"(":7,")":8,"*":9,"+":10,",":11,"-":12,".":13,"/":14,"0":15,"1":16,"2":17,"3":18,"4":19,"5":20,"6":21,"7":22,"8":23,"9":24,":":25,";":26,"<":27,"=":28,">":29,"?":30,"@":31,"A":32,"B":33,"C":34,"D":35,"E":36,"F":37,"G":38,"H":39,"I":40,"J":41,"K":42,"L":43,"M":44,"N":45,"O":46,"P":47,"Q":48,"R":49,"S":50,"T":51,"U":52,"V":53,"W":54,"X":55,"Y":56,"Z":57,"[":58,"\\":59,"]":60,"^":61,"_":62,"`":63,"a":64,"b":65,"c":66,"d":67,"e":68,"f":69,"g":70,"h":71,"i":72,"j":73,"k":74,"l":75,"m":76,"n":77,"o":78,"p":79},"merges":[]}})json";

// Writes input[begin, end) as scratch file `name`, or removes the file when begin is npos.
void put(const std::string& name, const std::string& input, size_t begin, size_t end) {
  if (begin == std::string::npos) {
    std::filesystem::remove(imp::fuzz::scratch_dir() + "/" + name);
  } else {
    imp::fuzz::write_scratch(name, input.substr(begin, end == std::string::npos ? end : end - begin));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool once = (imp::fuzz::write_scratch("tokenizer.json", kTokenizerJson), true);
  (void)once;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t marker = input.find("\xff\xff");
  put("tokenizer_config.json", input, 0, marker);
  put("special_tokens_map.json", input, marker == std::string::npos ? marker : marker + 2, std::string::npos);
  try {
    const auto tok = imp::text::Tokenizer::from_path(imp::fuzz::scratch_dir());
    for (const char* text : {"<|im_start|>user\ncaf\xc3\xa9 We'Ll 123<|im_end|>", "", "<s></s><unk>"}) {
      for (bool special : {false, true}) {
        const auto ids = tok->encode(text, special);
        for (bool skip : {false, true})
          if (!imp::text::detail::is_valid_utf8(tok->decode(ids, skip))) std::abort();
      }
    }
  } catch (const imp::Error&) {
  }
  return 0;
}
