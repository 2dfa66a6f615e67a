// Templates and get_prompt rendering; see conversation.h. Strings follow imp_llava/conversation.py.
#include "imp/data/conversation.h"

#include "imp/core/error.h"

namespace imp::data {
namespace {

const char* kSystem =
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.";

const Template kPhi2{"phi2", Style::two, kSystem, {"USER", "ASSISTANT"}, " ", "</s>"};
const Template kQwen2{"qwen2", Style::qwen2, std::string("<|im_start|>system\n") + kSystem,
                      {"\n<|im_start|>user\n", "\n<|im_start|>assistant\n"}, "", "<|im_end|>"};
const Template kPhi3{"phi3", Style::phi3, std::string("<|system|>\n") + kSystem,
                     {"\n<|user|>\n", "\n<|assistant|>\n"}, "", "<|end|>"};
const Template kPlain{"plain", Style::plain, "", {"", ""}, "\n", ""};

}  // namespace

const Template& get_template(const std::string& v) {
  if (v == "phi2") return kPhi2;
  if (v == "qwen1.5" || v == "qwen2") return kQwen2;
  if (v == "phi3") return kPhi3;
  if (v == "plain") return kPlain;
  throw Error("unknown conversation version '" + v + "'; expected phi2, qwen1.5 (= qwen2), phi3 or plain",
              ErrorKind::usage);
}

std::string render(const Template& t, const std::vector<std::string>& messages) {
  std::string out;
  switch (t.style) {
    case Style::two:
      out = t.system + t.sep;
      for (size_t i = 0; i < messages.size(); ++i) {
        out += t.roles[i % 2] + ":";
        if (!messages[i].empty()) out += " " + messages[i] + (i % 2 == 0 ? t.sep : t.sep2);
      }
      break;
    case Style::qwen2:
    case Style::phi3:
      out = t.system + t.sep2;
      for (size_t i = 0; i < messages.size(); ++i) {
        out += t.roles[i % 2];
        if (!messages[i].empty()) out += messages[i] + t.sep2;
      }
      if (t.style == Style::phi3 && out.size() >= t.sep2.size() + 1 &&
          out.compare(out.size() - t.sep2.size() - 1, std::string::npos, t.sep2 + "\n") == 0)
        out.pop_back();
      break;
    case Style::plain:
      for (size_t i = 0; i < messages.size(); ++i)
        if (!messages[i].empty()) out += messages[i] + (i % 2 == 0 ? t.sep : t.sep2);
      break;
  }
  return out;
}

}  // namespace imp::data
