// Imp's sample tokenization and label masking; see preprocess.h (imp-reference 4.3-4.5).
#include "imp/data/preprocess.h"

#include <algorithm>

#include "imp/core/error.h"

namespace imp::data {
namespace {

constexpr int64_t kIgnore = -100;
constexpr int64_t kImage = -200;
const std::string kImageToken = "<image>";

// Python str.split(sep) (sep non-empty).
std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0, pos;
  while ((pos = s.find(sep, start)) != std::string::npos) {
    out.push_back(s.substr(start, pos - start));
    start = pos + sep.size();
  }
  out.push_back(s.substr(start));
  return out;
}

// Python str.strip() with no arguments: ASCII whitespace as Python counts it for these texts.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\x0b\x0c";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
}

// Sets labels[a, b) to -100, clipped like a Python slice.
void mask(std::vector<int64_t>& labels, int64_t a, int64_t b) {
  const int64_t n = static_cast<int64_t>(labels.size());
  for (int64_t i = std::max<int64_t>(a, 0); i < std::min(b, n); ++i) labels[i] = kIgnore;
}

}  // namespace

TextSettings prepare_tokenizer(text::Tokenizer& tok, const std::string& version, int64_t model_max_length) {
  const Template& t = get_template(version);  // validates the version
  TextSettings s;
  s.version = version;
  s.model_max_length = model_max_length;
  if (t.name == "phi2" || t.name == "plain") {
    tok.special.pad = tok.special.unk;
    if (t.name == "phi2") tok.special.eos = tok.add_special_token("</s>");
  } else if (t.name == "qwen2") {
    tok.special.unk = tok.special.pad;
  }
  IMP_CHECK(tok.special.pad.has_value(), "the tokenizer has no pad token after the --version ", version,
            " setup (train.py would fail in the collator); use a tokenizer with a pad or unk token");
  s.pad_id = *tok.special.pad;
  return s;
}

std::vector<int64_t> tokenizer_image_token(const std::string& prompt, const text::Tokenizer& tok) {
  const auto chunks = split(prompt, kImageToken);
  std::vector<std::vector<int64_t>> ids;
  for (const auto& c : chunks) ids.push_back(tok.encode(c, /*add_special_tokens=*/true));
  std::vector<int64_t> out;
  size_t offset = 0;
  if (!ids[0].empty() && tok.special.bos && ids[0][0] == *tok.special.bos) {
    offset = 1;
    out.push_back(ids[0][0]);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out.push_back(kImage);  // the separator [-200] * (offset + 1), sliced by offset
    if (ids[i].size() > offset) out.insert(out.end(), ids[i].begin() + offset, ids[i].end());
  }
  return out;
}

Encoded preprocess(const Record& record, const text::Tokenizer& tok, const TextSettings& s) {
  const Template& t = get_template(s.version);
  const bool has_image = record.image.has_value();
  std::vector<Turn> turns = record.conversations;
  auto fail = [&](const std::string& why) { throw Error("sample '" + record.id + "': " + why, ErrorKind::input); };
  if (turns.empty()) fail("has no conversation turns");

  if (has_image) {  // preprocess_multimodal: "<image>" moved to the front of its turn
    for (auto& turn : turns) {
      if (turn.value.find(kImageToken) == std::string::npos) continue;
      std::string v = turn.value;
      replace_all(v, kImageToken, "");
      turn.value = strip(kImageToken + "\n" + strip(v));
    }
  }

  Encoded e;
  auto tok_len = [&](const std::string& x) -> int64_t {
    return has_image ? static_cast<int64_t>(tokenizer_image_token(x, tok).size())
                     : static_cast<int64_t>(tok.encode(x, true).size());
  };

  if (t.style == Style::plain) {  // preprocess_plain: "<image>" + caption + "\n"
    if (turns.size() != 2) fail("plain (stage 1) samples need exactly 2 turns, got " + std::to_string(turns.size()));
    if (turns[0].value.find(kImageToken) == std::string::npos) fail("plain samples need <image> in the first turn");
    e.input_ids = tokenizer_image_token(kImageToken + turns[1].value + t.sep, tok);
    e.labels = e.input_ids;
    mask(e.labels, 0, static_cast<int64_t>(tokenizer_image_token(kImageToken, tok).size()));
    return e;
  }

  for (const auto& turn : turns)
    if (turn.from != "human" && turn.from != "gpt") fail("unknown role '" + turn.from + "' (expected human or gpt)");
  if (turns[0].from != "human") turns.erase(turns.begin());  // train.py skips a leading non-human turn
  std::vector<std::string> messages;
  for (size_t j = 0; j < turns.size(); ++j) {
    if (turns[j].from != (j % 2 == 0 ? "human" : "gpt")) fail("roles do not alternate human/gpt at turn " + std::to_string(j));
    messages.push_back(turns[j].value);
  }
  const std::string conversation = render(t, messages);

  if (has_image) {
    e.input_ids = tokenizer_image_token(conversation, tok);
  } else {
    e.input_ids = tok.encode(conversation, true);
    if (static_cast<int64_t>(e.input_ids.size()) > s.model_max_length) e.input_ids.resize(s.model_max_length);
  }
  e.labels = e.input_ids;
  e.total_len = std::count_if(e.input_ids.begin(), e.input_ids.end(), [&](int64_t id) { return id != s.pad_id; });

  // The rounds and the per-round length corrections of preprocess_phi2 / _qwen2 / _phi3.
  std::vector<std::string> rounds;
  std::string sep;
  int64_t cur = 0, round_fix = 0, instr_fix = 0;
  if (t.style == Style::two) {
    sep = t.sep + t.roles[1] + ": ";
    rounds = split(conversation, t.sep2);
    round_fix = 1;   // the "</s>" consumed by the split
    instr_fix = -1;  // "ASSISTANT: " alone ends in a space token that merges into the answer
  } else {
    sep = t.sep2 + t.roles[1];
    auto pieces = split(conversation, t.sep2);
    const std::string first = pieces[0];
    pieces = std::vector<std::string>(pieces.begin() + 1, pieces.end() - 1);
    if (pieces.empty() || pieces.size() % 2 != 0)
      fail("needs user/assistant message pairs after the system prompt (train.py raises IndexError here)");
    for (size_t i = 0; i < pieces.size(); i += 2) rounds.push_back(pieces[i] + t.sep2 + pieces[i + 1] + t.sep2);
    rounds[0] = first + t.sep2 + rounds[0];  // the system block joins the first round
    if (t.style == Style::phi3) {
      cur = 1;  // the BOS every tokenizer call adds (Phi-3's add_bos_token era)
      mask(e.labels, 0, 1);
      round_fix = instr_fix = -1;
    }
  }
  for (const auto& round : rounds) {
    if (round.empty()) break;
    auto parts = split(round, sep);
    if (parts.size() != 2) break;
    parts[0] += sep;
    const int64_t round_len = tok_len(round) + round_fix;
    const int64_t instruction_len = tok_len(parts[0]) + instr_fix;
    mask(e.labels, cur, cur + instruction_len);
    cur += round_len;
  }
  mask(e.labels, cur, static_cast<int64_t>(e.labels.size()));
  e.cur_len = cur;
  if (cur < s.model_max_length && cur != e.total_len) {
    e.mismatch = true;
    std::fill(e.labels.begin(), e.labels.end(), kIgnore);
  }
  return e;
}

}  // namespace imp::data
