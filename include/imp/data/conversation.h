// Conversation templates of Imp (conversation.py: phi2, qwen2 = --version qwen1.5, phi3, plain) and the
// LLaVA-format record they render. Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace imp::data {

enum class Style { two, qwen2, phi3, plain };

struct Template {
  std::string name;  // "phi2", "qwen2", "phi3", "plain"
  Style style;
  std::string system;
  std::string roles[2];  // user, assistant
  std::string sep, sep2;
};

// Template for a training --version or eval --conv-mode: phi2, qwen1.5 / qwen2, phi3, plain.
const Template& get_template(const std::string& version);

struct Turn {
  std::string from;   // "human" or "gpt" (LLaVA JSON)
  std::string value;
};

// One sample of a LLaVA-format JSON list.
struct Record {
  std::string id;                    // JSON string or number, as text
  std::optional<std::string> image;  // relative to the image folder
  std::vector<Turn> conversations;
};

// Renders messages as Conversation.get_prompt does. An empty last message renders the generation
// prompt (the role without a message).
std::string render(const Template& t, const std::vector<std::string>& messages);

}  // namespace imp::data
