// Tokenizer::from_path / from_json_text: reads tokenizer.json (or GPT-2 style vocab.json +
// merges.txt) and applies tokenizer_config.json / special_tokens_map.json / added_tokens.json the
// way transformers 4.41's PreTrainedTokenizerFast does, so ids match AutoTokenizer's.
#include <algorithm>
#include <map>

#include "hf_tokenizer.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "unicode.h"

namespace imp::text {
namespace {

using detail::AddedToken;
using detail::HfTokenizer;
using detail::Where;

// Special-token attributes in transformers' SPECIAL_TOKENS_ATTRIBUTES order.
const char* const kSpecialKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                    "pad_token", "cls_token", "mask_token"};

AddedToken added_token_from_json(const Json& j, const Where& w, bool default_special) {
  AddedToken t;
  t.content = detail::as_string(detail::require(j, "content", w), w.at("content"));
  IMP_CHECK(detail::is_valid_utf8(t.content), w.str(), ": content is not valid UTF-8");
  t.special = detail::bool_or(j, "special", default_special, w);
  t.single_word = detail::bool_or(j, "single_word", false, w);
  t.lstrip = detail::bool_or(j, "lstrip", false, w);
  t.rstrip = detail::bool_or(j, "rstrip", false, w);
  t.normalized = detail::bool_or(j, "normalized", !t.special, w);
  return t;
}

// A special-token value of tokenizer_config.json: a string, or an AddedToken object.
struct SpecialValue {
  AddedToken token;
  bool is_object;  // transformers re-adds AddedToken objects even when the content exists
};

std::optional<SpecialValue> special_value(const Json* v, const Where& w) {
  if (!v) return std::nullopt;
  if (v->is_string()) {
    AddedToken t;
    t.content = v->get<std::string>();
    t.special = true;
    t.normalized = false;
    IMP_CHECK(detail::is_valid_utf8(t.content), w.str(), ": not valid UTF-8");
    return SpecialValue{t, false};
  }
  IMP_CHECK(v->is_object(), w.str(), ": expected a string or a token object, got ", v->type_name());
  return SpecialValue{added_token_from_json(*v, w, false), true};
}

std::unique_ptr<HfTokenizer> from_tokenizer_json(const Json& root, const std::string& origin) {
  const Where w{origin, ""};
  detail::expect_object(root, w);
  if (const Json* v = detail::find_field(root, "version")) {
    const std::string ver = detail::as_string(*v, w.at("version"));
    IMP_CHECK(ver == "1.0", origin, ": unknown tokenizer.json version '", ver, "' (expected 1.0)");
  }
  static const Json kNull;
  auto field = [&](const char* k) -> const Json& {
    const Json* f = detail::find_field(root, k);
    return f ? *f : kNull;
  };
  detail::Pipeline p;
  p.origin = origin;
  p.normalizer = detail::parse_normalizer(field("normalizer"), w.at("normalizer"));
  p.pre_tokenizer = detail::parse_pre_tokenizer(field("pre_tokenizer"), w.at("pre_tokenizer"));
  p.model = detail::Bpe::from_json(detail::require(root, "model", w), w.at("model"));
  p.decoder = detail::parse_decoder(field("decoder"), w.at("decoder"));
  p.post = detail::parse_post_processor(field("post_processor"), w.at("post_processor"));
  std::vector<AddedToken> tokens;
  if (const Json* arr = detail::find_field(root, "added_tokens")) {
    detail::expect_array(*arr, w.at("added_tokens"));
    for (size_t i = 0; i < arr->size(); ++i) {
      const Where wi = w.at("added_tokens").at(i);
      // The file's ids are only checked by tokenizers (it warns); ids are assigned by add_tokens.
      detail::as_int(detail::require((*arr)[i], "id", wi), wi.at("id"), 0, INT32_MAX);
      tokens.push_back(added_token_from_json((*arr)[i], wi, false));
    }
  }
  auto t = std::make_unique<HfTokenizer>(std::move(p));
  t->add_tokens(tokens);
  return t;
}

// merges.txt: an optional "#version" first line, then one "a b" pair per line.
std::vector<std::pair<std::string, std::string>> read_merges_txt(const std::string& path) {
  const std::string text = read_text_file(path);
  IMP_CHECK(detail::is_valid_utf8(text), path, ": not valid UTF-8");
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    IMP_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
              path, ":", line_no, ": expected two tokens separated by one space, got '", line, "'");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return merges;
}

std::string class_name(const Json* config) {
  if (!config) return "";
  const Json* c = detail::find_field(*config, "tokenizer_class");
  std::string s = c && c->is_string() ? c->get<std::string>() : "";
  if (s.size() > 4 && s.compare(s.size() - 4, 4, "Fast") == 0) s.resize(s.size() - 4);
  return s;
}

// GPT-2 style files, converted as transformers' GPT2Converter (CodeGen, GPT-2) or Qwen2Converter do.
std::unique_ptr<HfTokenizer> from_vocab_merges(const std::string& dir, const Json* config, const Where& wc) {
  const std::string vocab_path = join_path(dir, "vocab.json"), merges_path = join_path(dir, "merges.txt");
  const Json vj = read_json_file(vocab_path, json_limits::vocab);
  const Where wv{vocab_path, ""};
  detail::expect_object(vj, wv);
  std::vector<std::pair<std::string, int64_t>> vocab;
  for (auto it = vj.begin(); it != vj.end(); ++it)
    vocab.emplace_back(it.key(), detail::as_int(it.value(), wv.at(it.key()), 0, INT32_MAX));
  detail::Pipeline p;
  p.origin = dir;
  p.model = std::make_unique<detail::Bpe>(std::move(vocab), read_merges_txt(merges_path), detail::BpeOptions{},
                                          vocab_path + " + merges.txt");
  p.decoder = detail::make_byte_level_decoder();
  const bool add_prefix_space = config ? detail::bool_or(*config, "add_prefix_space", false, wc) : false;
  if (class_name(config) == "Qwen2Tokenizer") {
    p.normalizer = detail::parse_normalizer(Json{{"type", "NFC"}}, wc);
    p.pre_tokenizer = detail::make_qwen2_pre_tokenizer(dir);
  } else {
    p.pre_tokenizer = detail::make_byte_level(add_prefix_space, true);
  }
  return std::make_unique<HfTokenizer>(std::move(p));
}

// transformers 4.41 PreTrainedTokenizerFast.__init__ + from_pretrained, for the parts that change
// ids: which added tokens exist (and their flags), which are special, BOS/EOS insertion.
// Returns whether BOS/EOS insertion was decided here (else the post-processor decides).
bool apply_config(HfTokenizer& t, const Json* config, const Json* special_map, const Json* added_tokens_json,
                  const Where& wc, const Where& wm, const Where& wa, bool slow_files) {
  // 1. added_tokens_decoder (or, in old directories, added_tokens.json), by id.
  std::map<int64_t, AddedToken> decoder;
  const Json* atd = config ? detail::find_field(*config, "added_tokens_decoder") : nullptr;
  // special_tokens_map.json only counts in the legacy layout without added_tokens_decoder.
  const Json* names = nullptr;
  Json merged_names = config ? *config : Json::object();
  if (!atd && special_map) {
    detail::expect_object(*special_map, wm);
    for (auto it = special_map->begin(); it != special_map->end(); ++it) merged_names[it.key()] = it.value();
  }
  names = &merged_names;
  std::vector<std::string> special_names;
  for (const char* k : kSpecialKeys) {
    if (auto v = special_value(detail::find_field(*names, k), wc.at(k))) special_names.push_back(v->token.content);
  }
  std::vector<SpecialValue> additional;
  if (const Json* add = detail::find_field(*names, "additional_special_tokens")) {
    detail::expect_array(*add, wc.at("additional_special_tokens"));
    for (size_t i = 0; i < add->size(); ++i) {
      auto v = special_value(&(*add)[i], wc.at("additional_special_tokens").at(i));
      special_names.push_back(v->token.content);
      additional.push_back(*v);
    }
  }
  auto is_special_name = [&](const std::string& c) {
    return std::find(special_names.begin(), special_names.end(), c) != special_names.end();
  };
  if (atd) {
    detail::expect_object(*atd, wc.at("added_tokens_decoder"));
    for (auto it = atd->begin(); it != atd->end(); ++it) {
      const Where wi = wc.at("added_tokens_decoder").at(it.key());
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(it.key(), &used);
        if (used != it.key().size()) id = -1;
      } catch (const std::exception&) {
      }
      IMP_CHECK(id >= 0 && id <= INT32_MAX, wi.str(), ": the key must be a token id");
      decoder[id] = added_token_from_json(it.value(), wi, false);
    }
  } else if (added_tokens_json) {
    detail::expect_object(*added_tokens_json, wa);
    for (auto it = added_tokens_json->begin(); it != added_tokens_json->end(); ++it) {
      AddedToken tok;
      tok.content = it.key();
      tok.special = is_special_name(tok.content);
      tok.normalized = !tok.special;
      decoder[detail::as_int(it.value(), wa.at(it.key()), 0, INT32_MAX)] = tok;
    }
  }

  // 2. Tokens to (re-)add: added_tokens_decoder entries that differ from what tokenizer.json
  // registered, then special tokens that are objects or not yet known.
  std::vector<AddedToken> to_add;
  for (const auto& [id, tok] : decoder)
    if (!t.added().contains_equal(tok)) to_add.push_back(tok);
  std::vector<SpecialValue> specials;
  for (const char* k : kSpecialKeys) {
    if (auto v = special_value(detail::find_field(*names, k), wc.at(k))) {
      // A name that appears in added_tokens_decoder becomes that AddedToken object.
      for (const auto& [id, tok] : decoder) {
        if (tok.content == v->token.content) {
          v = SpecialValue{tok, true};
          break;
        }
      }
      specials.push_back(*v);
    }
  }
  specials.insert(specials.end(), additional.begin(), additional.end());
  std::vector<std::string> seen;
  for (const SpecialValue& v : specials) {
    if (std::find(seen.begin(), seen.end(), v.token.content) != seen.end()) continue;
    seen.push_back(v.token.content);
    const bool known = t.added().contains_content(v.token.content) ||
                       std::any_of(to_add.begin(), to_add.end(),
                                   [&](const AddedToken& a) { return a.content == v.token.content; });
    const bool queued = std::find(to_add.begin(), to_add.end(), v.token) != to_add.end();
    if ((v.is_object || !known) && !queued) to_add.push_back(v.token);
  }
  // 3. Add them in runs of equal "specialness"; the special runs go through add_special_tokens,
  // which marks every token special.
  std::vector<AddedToken> run;
  bool run_special = false;
  auto flush = [&]() {
    if (run.empty()) return;
    if (run_special)
      for (AddedToken& a : run) a.special = true;
    t.add_tokens(run);
    run.clear();
  };
  for (const AddedToken& a : to_add) {
    const bool sp = a.special || is_special_name(a.content);
    if (!run.empty() && sp != run_special) flush();
    run_special = sp;
    run.push_back(a);
  }
  flush();

  // 4. Special ids.
  auto id_of = [&](const char* key) -> std::optional<int64_t> {
    auto v = special_value(detail::find_field(*names, key), wc.at(key));
    if (!v) return std::nullopt;
    return t.token_to_id(v->token.content);
  };
  t.special.bos = id_of("bos_token");
  t.special.eos = id_of("eos_token");
  t.special.pad = id_of("pad_token");
  t.special.unk = id_of("unk_token");

  // 5. BOS/EOS: Llama-family fast tokenizers rebuild the post-processor from add_bos_token /
  // add_eos_token; the GPT-2 converter honours add_bos_token; others keep tokenizer.json's.
  const std::string cls = class_name(config);
  const bool llama_like = cls == "LlamaTokenizer" || cls == "CodeLlamaTokenizer" || cls == "GemmaTokenizer" ||
                          cls == "CohereTokenizer" || cls == "GPTNeoXTokenizer";
  bool decided = false;
  if (llama_like) {
    t.add_bos = detail::bool_or(*config, "add_bos_token", cls != "GPTNeoXTokenizer", wc);
    t.add_eos = detail::bool_or(*config, "add_eos_token", false, wc);
    IMP_CHECK(!t.add_bos || t.special.bos, wc.str(), ": add_bos_token is true but there is no bos_token");
    IMP_CHECK(!t.add_eos || t.special.eos, wc.str(), ": add_eos_token is true but there is no eos_token");
    t.post_via_flags = true;
    decided = true;
  } else if (slow_files) {
    t.add_bos = cls != "Qwen2Tokenizer" && config && detail::bool_or(*config, "add_bos_token", false, wc);
    t.add_eos = false;
    IMP_CHECK(!t.add_bos || t.special.bos, wc.str(), ": add_bos_token is true but there is no bos_token");
    t.post_via_flags = true;
    decided = true;
  }
  t.clean_up_tokenization_spaces = config ? detail::bool_or(*config, "clean_up_tokenization_spaces", true, wc) : true;
  IMP_CHECK(!(config && detail::bool_or(*config, "split_special_tokens", false, wc)), wc.str(),
            ": split_special_tokens true is not supported");
  return decided;
}

// Without config files: unk from the model, BOS/EOS from the post-processor's template.
void derive_post_flags(HfTokenizer& t, bool configured) {
  const auto& post = t.pipeline().post;
  if (!configured) {
    if (post.prefix.size() == 1) t.special.bos = post.prefix[0];
    if (post.suffix.size() == 1) t.special.eos = post.suffix[0];
  }
  const bool prefix_ok = post.prefix.empty() || (post.prefix.size() == 1 && t.special.bos == post.prefix[0]);
  const bool suffix_ok = post.suffix.empty() || (post.suffix.size() == 1 && t.special.eos == post.suffix[0]);
  t.post_via_flags = prefix_ok && suffix_ok;
  t.add_bos = t.post_via_flags && !post.prefix.empty();
  t.add_eos = t.post_via_flags && !post.suffix.empty();
}

const Json* optional_json(const std::string& path, const JsonLimits& limits, std::optional<Json>& storage) {
  if (!path_exists(path)) return nullptr;
  storage = read_json_file(path, limits);
  return &*storage;
}

// Turns stray library exceptions into imp::Error naming the source, so callers (and the fuzzer)
// only ever see imp::Error.
template <typename F>
auto guarded(const std::string& origin, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const ::imp::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    IMP_FAIL(origin, ": invalid tokenizer file: ", e.what());
  }
}

}  // namespace

std::shared_ptr<Tokenizer> Tokenizer::from_json_text(const std::string& json, const std::string& origin) {
  return guarded(origin, [&]() -> std::shared_ptr<Tokenizer> {
    std::shared_ptr<HfTokenizer> t = from_tokenizer_json(parse_json(json, origin, json_limits::tokenizer), origin);
    derive_post_flags(*t, false);
    t->clean_up_tokenization_spaces = true;  // transformers' default without tokenizer_config.json
    return t;
  });
}

std::shared_ptr<Tokenizer> Tokenizer::from_path(const std::string& path) {
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, path, ": no such file or directory",
                 "\nhint: pass a model directory with tokenizer.json (or vocab.json + merges.txt), or a tokenizer.json file");
  if (!is_directory(path)) return from_json_text(read_json_text(path, json_limits::tokenizer), path);
  return guarded(path, [&]() -> std::shared_ptr<Tokenizer> {
    const std::string cfg_path = join_path(path, "tokenizer_config.json");
    std::optional<Json> cfg_store, map_store, added_store;
    const Json* config = optional_json(cfg_path, json_limits::tokenizer_config, cfg_store);
    if (config) detail::expect_object(*config, Where{cfg_path, ""});
    const std::string map_path = join_path(path, "special_tokens_map.json");
    const Json* special_map = optional_json(map_path, json_limits::special_tokens_map, map_store);
    const std::string tj = join_path(path, "tokenizer.json");
    std::shared_ptr<HfTokenizer> t;
    const bool slow = !path_exists(tj);
    const std::string added_path = join_path(path, "added_tokens.json");
    const Json* added_json = nullptr;
    if (!slow) {
      t = from_tokenizer_json(read_json_file(tj, json_limits::tokenizer), tj);
    } else {
      IMP_CHECK_KIND(path_exists(join_path(path, "vocab.json")) && path_exists(join_path(path, "merges.txt")),
                     ErrorKind::io, path, ": no tokenizer.json, and no vocab.json + merges.txt either",
                     "\nhint: a SentencePiece tokenizer.model alone is not supported; save the tokenizer with "
                     "transformers (save_pretrained writes tokenizer.json)");
      t = from_vocab_merges(path, config, Where{cfg_path, ""});
      added_json = optional_json(added_path, json_limits::added_tokens, added_store);
    }
    if (!config && !special_map && !added_json) {
      derive_post_flags(*t, false);
      t->add_bos = t->add_bos && !slow;
      t->clean_up_tokenization_spaces = true;
      return t;
    }
    if (!apply_config(*t, config, special_map, added_json, Where{cfg_path, ""}, Where{map_path, ""},
                      Where{added_path, ""}, slow)) {
      derive_post_flags(*t, true);
    }
    return t;
  });
}

}  // namespace imp::text
