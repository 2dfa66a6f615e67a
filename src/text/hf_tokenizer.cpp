// Encode/decode of HfTokenizer, following tokenizers 0.19 TokenizerImpl::encode_single_sequence
// and decode, plus transformers 4.41's clean_up_tokenization; see hf_tokenizer.h.
#include "hf_tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "unicode.h"

namespace imp::text::detail {
namespace {

// transformers' PreTrainedTokenizerBase.clean_up_tokenization, replacement by replacement.
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"},
  };
  for (const auto& [from, to] : kRules) {
    const std::string f(from), t(to);
    std::string out;
    size_t prev = 0, pos;
    while ((pos = s.find(f, prev)) != std::string::npos) {
      out.append(s, prev, pos - prev);
      out += t;
      prev = pos + f.size();
    }
    if (prev == 0) continue;
    out.append(s, prev, std::string::npos);
    s.swap(out);
  }
  return s;
}

}  // namespace

void HfTokenizer::encode_segment(std::string_view text, bool at_origin, std::vector<int64_t>& out) const {
  // Normalize this piece, then find normalized added tokens in it.
  std::string norm(text);
  if (p_.normalizer) p_.normalizer->normalize(norm);
  std::vector<Segment> segs;
  added_.split(norm, /*normalized_tokens=*/true, segs);
  std::vector<Piece> pieces;
  for (const Segment& s : segs) {
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    if (s.end <= s.start) continue;
    pieces.clear();
    pieces.push_back({norm.substr(s.start, s.end - s.start), at_origin && s.start == 0});
    if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pieces);
    for (const Piece& pc : pieces) p_.model->tokenize(pc.text, out);
  }
}

std::vector<int64_t> HfTokenizer::encode(const std::string& text, bool add_special_tokens) const {
  const size_t bad = find_invalid_utf8(text);
  if (bad != std::string::npos) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", static_cast<unsigned char>(text[bad]));
    IMP_FAIL("tokenizer (", p_.origin, "): input text is not valid UTF-8: byte ", hex, " at offset ", bad);
  }
  std::vector<int64_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special_tokens) {
    if (post_via_flags) {
      if (add_bos && special.bos) out.push_back(*special.bos);
    } else {
      out.insert(out.end(), p_.post.prefix.begin(), p_.post.prefix.end());
    }
  }
  // Split the raw text at the non-normalized added tokens first (special tokens such as <|im_end|>).
  std::vector<Segment> segs;
  added_.split(text, /*normalized_tokens=*/false, segs);
  for (const Segment& s : segs) {
    if (s.id >= 0) {
      out.push_back(s.id);
    } else if (s.end > s.start) {
      encode_segment(std::string_view(text).substr(s.start, s.end - s.start), s.start == 0, out);
    }
  }
  if (add_special_tokens) {
    if (post_via_flags) {
      if (add_eos && special.eos) out.push_back(*special.eos);
    } else {
      out.insert(out.end(), p_.post.suffix.begin(), p_.post.suffix.end());
    }
  }
  return out;
}

const std::string* HfTokenizer::token_string(int64_t id) const {
  if (const AddedToken* t = added_.find(id)) return &t->content;
  return p_.model->id_to_token(id);
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    const std::string* t = token_string(id);
    if (!t) continue;  // unknown ids are skipped, as tokenizers does
    if (skip_special_tokens && added_.is_special(*t)) continue;
    tokens.push_back(*t);
  }
  std::string text;
  if (p_.decoder) {
    p_.decoder->decode_chain(tokens);
    for (const std::string& t : tokens) text += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) text += ' ';
      text += tokens[i];
    }
  }
  return clean_up_tokenization_spaces ? clean_up_tokenization(std::move(text)) : text;
}

std::optional<int64_t> HfTokenizer::token_to_id(const std::string& token) const {
  return added_.token_to_id(token, *p_.model);
}

std::string HfTokenizer::id_to_token(int64_t id) const {
  const std::string* t = token_string(id);
  return t ? *t : std::string();
}

int64_t HfTokenizer::vocab_size() const {
  return std::max<int64_t>(p_.model->max_id() + 1, added_.max_id() + 1);
}

bool HfTokenizer::is_special(int64_t id) const {
  const std::string* t = token_string(id);
  return t && added_.is_special(*t);
}

int64_t HfTokenizer::add_special_token(const std::string& content) {
  IMP_CHECK_KIND(!content.empty() && is_valid_utf8(content), ErrorKind::usage,
                 "add_special_token: the token must be non-empty UTF-8");
  AddedToken t;
  t.content = content;
  t.special = true;
  t.normalized = false;
  add_tokens({t});
  return *token_to_id(content);
}

}  // namespace imp::text::detail
