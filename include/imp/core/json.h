// The one JSON entry point for everything imp reads (model, tokenizer, adapter, checkpoint and
// training configs, safetensors headers and indexes, question/answer files, request bodies), and
// typed optional fields.
//
// Every JSON text is checked against the JsonLimits of its kind BEFORE nlohmann builds a DOM: size,
// then nesting depth by one linear scan of the bytes. nlohmann's parser is iterative, but copying,
// comparing and dumping a DOM recurse once per nesting level, so a 100,000-level file would
// overflow the stack (issue #17); with the depth bounded here, every recursive walk over a parsed
// document is bounded too. Limit errors are ErrorKind::input (exit 3) and name the file and limit.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "imp/core/error.h"

namespace imp {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// What one kind of JSON input may hold. Depths give a wide margin over real files (an HF
// config.json nests 2-3 levels, tokenizer.json about 6); sizes are set where the kind has a
// natural bound, 0 where it has none (data and logs of any length).
struct JsonLimits {
  const char* what;    // the kind of input, named in errors: "config.json"
  size_t max_depth;    // nesting levels of '[' and '{'
  uint64_t max_bytes;  // 0: no size limit
};

namespace json_limits {
inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr JsonLimits any{"JSON input", 64, 0};
inline constexpr JsonLimits model_config{"config.json", 64, 16 * kMiB};
inline constexpr JsonLimits generation_config{"generation_config.json", 64, 16 * kMiB};
inline constexpr JsonLimits adapter_config{"adapter_config.json", 64, 16 * kMiB};
inline constexpr JsonLimits tokenizer{"tokenizer.json", 64, 128 * kMiB};
inline constexpr JsonLimits tokenizer_config{"tokenizer_config.json", 64, 64 * kMiB};
inline constexpr JsonLimits special_tokens_map{"special_tokens_map.json", 64, 16 * kMiB};
inline constexpr JsonLimits added_tokens{"added_tokens.json", 64, 64 * kMiB};
inline constexpr JsonLimits vocab{"vocab.json", 64, 128 * kMiB};
// The safetensors format caps the header at 100,000,000 bytes (the Rust crate's MAX_HEADER_SIZE).
inline constexpr JsonLimits safetensors_header{"safetensors header", 64, 100'000'000};
inline constexpr JsonLimits safetensors_index{"safetensors index", 16, 100'000'000};
inline constexpr JsonLimits manifest{"checkpoint manifest.json", 64, 64 * kMiB};
inline constexpr JsonLimits trainer_state{"trainer_state.json", 64, 0};  // log_history grows with the run
inline constexpr JsonLimits train_config{"training config (--config)", 64, 16 * kMiB};
inline constexpr JsonLimits deepspeed_config{"DeepSpeed config (--deepspeed)", 64, 16 * kMiB};
inline constexpr JsonLimits dataset_record{"dataset record", 16, 0};
inline constexpr JsonLimits eval_data{"question/answer file", 64, 0};
inline constexpr JsonLimits request_body{"request body", 64, 64 * kMiB};
}  // namespace json_limits

// Throws imp::Error(input) naming `origin`, the kind and the limit unless `size` bytes of JSON text
// fit `limits`: at most max_bytes, '[' / '{' (outside strings) nested at most max_depth deep.
// Linear, no allocation; the check every function below runs first, and the one SAX readers run.
void check_json_limits(const char* text, size_t size, const std::string& origin, const JsonLimits& limits);

// Reads a JSON file: the size is checked before reading, then as parse_json.
Json read_json_file(const std::string& path, const JsonLimits& limits = json_limits::any);
// The text of a JSON file after the size check (for callers that parse it more than one way).
std::string read_json_text(const std::string& path, const JsonLimits& limits);
// Parses JSON text; `origin` names the source in errors, syntax errors give line:column.
Json parse_json(const std::string& text, const std::string& origin, const JsonLimits& limits = json_limits::any);
// The same keeping key order (for output that must repeat the input's order).
OrderedJson parse_json_ordered(const std::string& text, const std::string& origin,
                               const JsonLimits& limits = json_limits::any);
// Parses untrusted JSON strictly: duplicate keys (which nlohmann would silently keep the last of)
// are errors too; `hint` is appended to syntax and duplicate-key messages.
Json parse_json_strict(const std::string& text, const std::string& origin,
                       const JsonLimits& limits = json_limits::any, const std::string& hint = "");
// Writes JSON (indent 2, trailing newline) atomically: temp file + rename.
void write_json_file(const std::string& path, const Json& j);

// j[key] as T, or `fallback` when the key is absent or null. Wrong types throw with the key name; an
// integer field written as a float (4096.0) must hold an integer value within T's range (nlohmann's
// own conversion would be undefined behaviour for 1e300).
template <typename T>
T json_or(const Json& j, const char* key, T fallback, const std::string& origin = "config") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (it->is_number_float()) {
      const double v = it->get<double>();
      IMP_CHECK(v == std::trunc(v) && v >= static_cast<double>(std::numeric_limits<T>::min()) &&
                    v < std::ldexp(1.0, std::numeric_limits<T>::digits),
                origin, ": field '", key, "' must be an integer, got ", it->dump());
    }
  }
  try {
    return it->get<T>();
  } catch (const std::exception& e) {
    IMP_FAIL(origin, ": field '", key, "' has the wrong type (", it->type_name(), "): ", e.what());
  }
}

// j[key] as a list of integers: absent or null -> {}, an integer -> {it}, a list of integers -> it
// (eos_token_id's two spellings). Anything else throws with the key name.
std::vector<int64_t> json_int_list(const Json& j, const char* key, const std::string& origin);

template <typename T>
std::optional<T> json_opt(const Json& j, const char* key, const std::string& origin = "config") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return json_or<T>(j, key, T{}, origin);
}

}  // namespace imp
