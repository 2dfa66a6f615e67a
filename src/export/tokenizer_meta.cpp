// tokenizer.ggml.* metadata; see imp/export/tokenizer_meta.h.
#include "imp/export/tokenizer_meta.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"

namespace imp::gguf {
namespace {

// llama.cpp token types (gguf.TokenType).
enum : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
         std::isxdigit(static_cast<unsigned char>(t[4]));
}

std::string merge_text(const Json& m, const std::string& origin) {
  if (m.is_string()) return m.get<std::string>();
  IMP_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), origin,
            ": model.merges entries must be \"a b\" or [\"a\", \"b\"]");
  return m[0].get<std::string>() + " " + m[1].get<std::string>();
}

// A string field that may be absent or null.
std::string text_field(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

void add_tokenizer(Writer& w, const std::string& dir, const TextConfig& c, const std::string& turn_end) {
  const std::string path = join_path(dir, "tokenizer.json");
  IMP_CHECK(path_exists(path), dir, ": no tokenizer.json; GGUF files carry the tokenizer",
            "\nhint: copy the tokenizer files of the model into ", dir);
  const Json tok = read_json_file(path, json_limits::tokenizer);
  const Json& model = tok.at("model");
  IMP_CHECK(text_field(model, "type") == "BPE" && model.contains("vocab") && model["vocab"].is_object(), path,
            ": only BPE tokenizers are exported (model.type ", quote(text_field(model, "type")), ")");
  const std::string cfg_path = join_path(dir, "tokenizer_config.json");
  const Json tcfg = path_exists(cfg_path) ? read_json_file(cfg_path, json_limits::tokenizer_config) : Json::object();
  const bool spm = model.value("byte_fallback", false);

  const auto vocab = static_cast<size_t>(c.vocab_size);
  std::vector<std::string> tokens(vocab);
  std::vector<int32_t> types(vocab, kUnused);
  for (size_t i = 0; i < vocab; ++i) tokens[i] = "[PAD" + std::to_string(i) + "]";
  int64_t next_id = 0, turn_end_id = -1;  // the first id after every token of the files; turn_end's id
  auto place = [&](int64_t id, const std::string& text, int32_t type) {
    IMP_CHECK(id >= 0, path, ": negative token id ", id);
    next_id = std::max(next_id, id + 1);
    if (!turn_end.empty() && text == turn_end) turn_end_id = id;
    if (static_cast<size_t>(id) >= vocab) return;  // beyond the embedding: llama.cpp cannot use it either
    tokens[id] = text;
    types[id] = type;
  };
  const std::string unk = text_field(model, "unk_token");
  for (const auto& [text, id] : model["vocab"].items()) {
    IMP_CHECK(id.is_number_integer(), path, ": vocab id of ", quote(text), " is not an integer");
    place(id.get<int64_t>(), text, spm && is_byte_token(text) ? kByte : (!unk.empty() && text == unk) ? kUnknown : kNormal);
  }
  for (const auto& a : tok.value("added_tokens", Json::array()))
    place(a.at("id").get<int64_t>(), a.at("content").get<std::string>(), a.value("special", false) ? kControl : kUserDefined);
  if (!turn_end.empty() && turn_end_id < 0 && static_cast<size_t>(next_id) < vocab) {
    turn_end_id = next_id;
    place(turn_end_id, turn_end, kControl);
  }

  w.set("tokenizer.ggml.model", std::string(spm ? "llama" : "gpt2"));
  w.set("tokenizer.ggml.pre", std::string(spm ? "default" : c.arch == Arch::qwen2 ? "qwen2" : "phi-2"));
  w.set("tokenizer.ggml.tokens", tokens);
  std::vector<std::string> merges;
  for (const auto& m : model.value("merges", Json::array())) merges.push_back(merge_text(m, path));
  if (spm) {
    // SentencePiece merges the pair whose result scores highest: score = -(rank of the merge making the token).
    std::map<std::string, size_t> rank;
    for (size_t r = 0; r < merges.size(); ++r) {
      const auto sp = merges[r].find(' ');
      const std::string joined = merges[r].substr(0, sp) + merges[r].substr(sp + 1);
      rank.emplace(joined, r);  // the first (best) merge producing it
    }
    std::vector<float> scores(vocab, 0.0f);
    for (size_t i = 0; i < vocab; ++i) {
      if (types[i] == kControl || types[i] == kUserDefined) scores[i] = -1000.0f;
      auto it = rank.find(tokens[i]);
      if (types[i] == kNormal && it != rank.end()) scores[i] = -static_cast<float>(it->second) - 1.0f;
    }
    w.set("tokenizer.ggml.scores", scores);
  }
  w.set("tokenizer.ggml.token_type", types);
  if (!spm) w.set("tokenizer.ggml.merges", merges);
  if (c.bos_token_id) w.set("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(*c.bos_token_id));
  if (!c.eos_token_ids.empty()) w.set("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_token_ids.front()));
  if (turn_end_id >= 0 && static_cast<size_t>(turn_end_id) < vocab)
    w.set("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(turn_end_id));
  if (c.pad_token_id && *c.pad_token_id >= 0) w.set("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(*c.pad_token_id));
  if (!unk.empty() && model["vocab"].contains(unk))
    w.set("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(model["vocab"][unk].get<int64_t>()));
  const bool add_bos = tcfg.contains("add_bos_token") && tcfg["add_bos_token"].is_boolean() && tcfg["add_bos_token"].get<bool>();
  w.set("tokenizer.ggml.add_bos_token", add_bos);
  if (tcfg.contains("chat_template") && tcfg["chat_template"].is_string())
    w.set("tokenizer.chat_template", tcfg["chat_template"].get<std::string>());
}

}  // namespace imp::gguf
