// OpenAI chat-completions requests and responses; see openai.h.
#include "imp/serve/openai.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "imp/core/base64.h"
#include "imp/core/error.h"
#ifdef IMP_WITH_OPENCV
#include "imp/image/image.h"
#endif

namespace imp::serve {
namespace {

ApiError bad(const std::string& msg, const std::string& param, const std::string& code = "invalid_value") {
  return ApiError(400, msg, param, code);
}

// The field `key` of object `o` when present and not null.
const Json* field(const Json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const Json& o, const char* key, const std::string& param) {
  const Json* v = field(o, key);
  if (!v) throw bad("'" + param + "' is required", param, "missing_required_parameter");
  if (!v->is_string()) throw bad("'" + param + "' must be a string", param, "invalid_type");
  return v->get<std::string>();
}

double get_number(const Json& o, const char* key, double lo, double hi, double def) {
  const Json* v = field(o, key);
  if (!v) return def;
  if (!v->is_number()) throw bad(std::string("'") + key + "' must be a number", key, "invalid_type");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi))  // also rejects NaN
    throw bad(str("'", key, "' must be between ", lo, " and ", hi, ", got ", x), key);
  return x;
}

int64_t get_int(const Json& o, const char* key, int64_t lo, int64_t hi, int64_t def) {
  const Json* v = field(o, key);
  if (!v) return def;
  if (!v->is_number_integer()) throw bad(std::string("'") + key + "' must be an integer", key, "invalid_type");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    throw bad(str("'", key, "' must be at most ", hi), key);
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) throw bad(str("'", key, "' must be between ", lo, " and ", hi, ", got ", x), key);
  return x;
}

bool get_bool(const Json& o, const char* key, bool def) {
  const Json* v = field(o, key);
  if (!v) return def;
  if (!v->is_boolean()) throw bad(std::string("'") + key + "' must be true or false", key, "invalid_type");
  return v->get<bool>();
}

// A text part must not smuggle in image markers: images come only as image_url parts.
std::string checked_text(std::string text, const std::string& param) {
  if (text.find("<image>") != std::string::npos)
    throw bad("message text must not contain '<image>'; send images as image_url content parts", param);
  return text;
}

// One message's content -> text with "<image>\n" before the text for each image (Imp's training format).
std::string decode_content(const Json& content, const std::string& param, const RequestLimits& limits,
                           std::vector<std::string>& images) {
  if (content.is_string()) return checked_text(content.get<std::string>(), param);
  if (!content.is_array()) throw bad("'" + param + "' must be a string or an array of content parts", param, "invalid_type");
  std::string prefix, text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw bad("'" + p + "' must be an object", p, "invalid_type");
    const std::string type = get_string(part, "type", p + ".type");
    if (type == "text") {
      if (!text.empty()) text += "\n";
      text += checked_text(get_string(part, "text", p + ".text"), p + ".text");
    } else if (type == "image_url") {
      const Json* iu = field(part, "image_url");
      if (!iu) throw bad("'" + p + ".image_url' is required", p + ".image_url", "missing_required_parameter");
      std::string url;
      if (iu->is_string()) {
        url = iu->get<std::string>();
      } else if (iu->is_object()) {
        url = get_string(*iu, "url", p + ".image_url.url");
        if (const Json* d = field(*iu, "detail"); d && !d->is_string())
          throw bad("'" + p + ".image_url.detail' must be a string", p + ".image_url.detail", "invalid_type");
      } else {
        throw bad("'" + p + ".image_url' must be an object with a url", p + ".image_url", "invalid_type");
      }
      if (images.size() >= limits.max_images)
        throw bad(str("at most ", limits.max_images, " images per request"), p, "too_many_images");
      try {
        images.push_back(load_image_url(url, limits));
      } catch (ApiError& e) {
        e.param = p + ".image_url.url";
        throw;
      }
      prefix += "<image>\n";
    } else {
      throw bad("content part type '" + type + "' is not supported; use text or image_url", p + ".type",
                "unsupported_value");
    }
  }
  return prefix + text;
}

uint64_t file_size_or_throw(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw bad("no such image file: " + path, "");
  return static_cast<uint64_t>(st.st_size);
}

std::string canonical(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> p(::realpath(path.c_str(), nullptr), &std::free);
  return p ? std::string(p.get()) : std::string();
}

std::string read_allowed_file(const std::string& path, const RequestLimits& limits) {
  if (limits.allowed_image_dir.empty())
    throw bad("server-side image files are disabled; send the image as a data: URL (or start imp serve with "
              "--allowed-image-dir)", "", "unsupported_value");
  if (path.empty() || path[0] != '/') throw bad("an image file path must be absolute", "");
  const std::string dir = canonical(limits.allowed_image_dir);
  const std::string real = canonical(path);
  // realpath resolves "..", "." and symbolic links, so a path that leaves the folder cannot hide it.
  if (real.empty() || dir.empty() || real.compare(0, dir.size() + 1, dir + "/") != 0)
    throw ApiError(403, "image file " + path + " is not inside the allowed image folder", "", "forbidden_path");
  if (file_size_or_throw(real) > limits.max_image_bytes)
    throw ApiError(413, str("image file ", path, " is larger than ", limits.max_image_bytes, " bytes"), "",
                   "image_too_large");
  std::ifstream f(real, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) throw bad("cannot read image file " + path, "");
  return bytes;
}

}  // namespace

std::string load_image_url(const std::string& url, const RequestLimits& limits) {
  std::string bytes;
  if (url.rfind("data:", 0) == 0) {
    const size_t comma = url.find(',');
    if (comma == std::string::npos) throw bad("a data: URL needs a ',' before its data", "");
    const std::string meta = url.substr(5, comma - 5);
    if (meta.size() < 7 || meta.compare(meta.size() - 7, 7, ";base64") != 0)
      throw bad("only base64 data: URLs are supported (data:image/png;base64,...)", "", "unsupported_value");
    if (meta.rfind("image/", 0) != 0) throw bad("a data: URL must hold an image (data:image/...)", "");
    if ((url.size() - comma - 1) / 4 * 3 > limits.max_image_bytes + 3)
      throw ApiError(413, str("the image is larger than ", limits.max_image_bytes, " bytes"), "", "image_too_large");
    auto decoded = decode_base64(std::string_view(url).substr(comma + 1));
    if (!decoded.error.empty()) throw bad("invalid base64 data: " + decoded.error, "");
    bytes = std::move(decoded.bytes);
  } else if (url.rfind("file://", 0) == 0) {
    bytes = read_allowed_file(url.substr(7), limits);
  } else if (!url.empty() && url[0] == '/') {
    bytes = read_allowed_file(url, limits);
  } else if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    throw bad("imp serve does not fetch remote images; send the image as a data: URL", "", "unsupported_value");
  } else {
    throw bad("an image url must be a data: URL (or a file under --allowed-image-dir)", "");
  }
  if (bytes.size() > limits.max_image_bytes)
    throw ApiError(413, str("the image is larger than ", limits.max_image_bytes, " bytes"), "", "image_too_large");
  if (bytes.empty()) throw bad("the image is empty", "", "invalid_image");
#ifdef IMP_WITH_OPENCV
  try {
    image::DecodeLimits dl;
    dl.max_pixels = limits.max_image_pixels;
    dl.max_bytes = static_cast<int64_t>(limits.max_image_bytes);
    image::probe_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "image", dl);
  } catch (const Error& e) {
    throw bad(std::string("invalid image: ") + e.what(), "", "invalid_image");
  }
#endif
  return bytes;
}

ParsedChat parse_chat_request(const std::string& body, const RequestLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    throw ApiError(413, str("the request body is larger than ", limits.max_body_bytes, " bytes"), "", "body_too_large");
  Json j;
  try {
    j = parse_json_strict(body, "request body", json_limits::request_body);
  } catch (const Error& e) {
    throw bad(std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw bad("the body must be a JSON object", "", "invalid_type");
  ParsedChat out;
  if (const Json* m = field(j, "model")) {
    if (!m->is_string()) throw bad("'model' must be a string", "model", "invalid_type");
    out.model = m->get<std::string>();
  }
  const Json* msgs = field(j, "messages");
  if (!msgs) throw bad("'messages' is required", "messages", "missing_required_parameter");
  if (!msgs->is_array() || msgs->empty()) throw bad("'messages' must be a non-empty array", "messages", "invalid_type");
  if (msgs->size() > limits.max_messages)
    throw bad(str("at most ", limits.max_messages, " messages per request"), "messages");
  auto& req = out.request;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const Json& m = (*msgs)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad("'" + p + "' must be an object", p, "invalid_type");
    eval::ChatMessage cm;
    cm.role = get_string(m, "role", p + ".role");
    if (cm.role == "developer") cm.role = "system";  // OpenAI's newer name for it
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      throw bad("'" + p + ".role' must be system, user or assistant, got '" + cm.role + "'", p + ".role",
                "unsupported_value");
    if (const Json* n = field(m, "name"); n && !n->is_string())
      throw bad("'" + p + ".name' must be a string", p + ".name", "invalid_type");
    const Json* content = field(m, "content");
    if (!content) throw bad("'" + p + ".content' is required", p + ".content", "missing_required_parameter");
    const size_t images_before = req.images.size();
    cm.text = decode_content(*content, p + ".content", limits, req.images);
    if (cm.role != "user" && req.images.size() != images_before)
      throw bad("images are only accepted in user messages", p + ".content", "unsupported_value");
    req.messages.push_back(std::move(cm));
  }
  // The order the chat template can render (eval/chat_engine.cpp follows the same rule).
  std::string last;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const auto& r = req.messages[i].role;
    const std::string p = "messages[" + std::to_string(i) + "].role";
    if (r == "system" && i != 0) throw bad("a system message must come first", p);
    if (r == "assistant" && last.empty()) throw bad("the conversation must start with a user message", p);
    if (r != "system") last = r;
  }
  if (last != "user") throw bad("the last message must come from the user", "messages");

  const Json* mt = field(j, "max_completion_tokens");
  req.max_tokens = get_int(j, mt ? "max_completion_tokens" : "max_tokens", 1, limits.max_tokens_cap, 0);
  req.default_max_tokens = limits.default_max_tokens;
  req.temperature = get_number(j, "temperature", 0.0, 2.0, 1.0);
  req.top_p = get_number(j, "top_p", 0.0, 1.0, 1.0);
  if (req.top_p <= 0.0) throw bad("'top_p' must be greater than 0", "top_p");
  if (const Json* s = field(j, "seed"); s && !s->is_null())
    req.seed = static_cast<uint64_t>(get_int(j, "seed", INT64_MIN, INT64_MAX, 0));
  if (get_int(j, "n", 1, 1, 1) != 1) throw bad("only n = 1 is supported", "n");
  for (const char* k : {"presence_penalty", "frequency_penalty"})
    if (get_number(j, k, -2.0, 2.0, 0.0) != 0.0)
      throw bad(std::string("'") + k + "' is not supported (only 0)", k, "unsupported_value");
  if (get_bool(j, "logprobs", false)) throw bad("'logprobs' is not supported", "logprobs", "unsupported_value");
  for (const char* k : {"tools", "functions", "tool_choice", "response_format", "logit_bias"})
    if (field(j, k)) throw bad(std::string("'") + k + "' is not supported", k, "unsupported_parameter");
  if (const Json* s = field(j, "stop")) {
    if (s->is_string()) {
      req.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && s->size() <= limits.max_stop) {
      for (const auto& x : *s) {
        if (!x.is_string()) throw bad("'stop' must be a string or an array of strings", "stop", "invalid_type");
        req.stop.push_back(x.get<std::string>());
      }
    } else {
      throw bad(str("'stop' must be a string or an array of at most ", limits.max_stop, " strings"), "stop",
                "invalid_type");
    }
    for (const auto& x : req.stop)
      if (x.empty() || x.size() > limits.max_stop_bytes)
        throw bad(str("stop strings must have 1 to ", limits.max_stop_bytes, " bytes"), "stop");
  }
  out.stream = get_bool(j, "stream", false);
  if (const Json* so = field(j, "stream_options")) {
    if (!so->is_object()) throw bad("'stream_options' must be an object", "stream_options", "invalid_type");
    out.include_usage = get_bool(*so, "include_usage", false);
  }
  return out;
}

OrderedJson error_json(const ApiError& e) {
  OrderedJson err;
  err["message"] = e.what();
  err["type"] = e.type;
  err["param"] = e.param.empty() ? OrderedJson(nullptr) : OrderedJson(e.param);
  err["code"] = e.code.empty() ? OrderedJson(nullptr) : OrderedJson(e.code);
  return OrderedJson{{"error", err}};
}

OrderedJson usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return OrderedJson{{"prompt_tokens", prompt_tokens},
                     {"completion_tokens", completion_tokens},
                     {"total_tokens", prompt_tokens + completion_tokens}};
}

OrderedJson completion_json(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                            const std::string& finish_reason, int64_t prompt_tokens, int64_t completion_tokens) {
  OrderedJson choice;
  choice["index"] = 0;
  choice["message"] = OrderedJson{{"role", "assistant"}, {"content", text}};
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  return OrderedJson{{"id", id},           {"object", "chat.completion"},
                     {"created", created}, {"model", model},
                     {"choices", OrderedJson::array({choice})}, {"usage", usage_json(prompt_tokens, completion_tokens)}};
}

OrderedJson chunk_json(const std::string& id, int64_t created, const std::string& model, const OrderedJson& delta,
                       const std::string& finish_reason) {
  OrderedJson choice;
  choice["index"] = 0;
  choice["delta"] = delta;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason.empty() ? OrderedJson(nullptr) : OrderedJson(finish_reason);
  return OrderedJson{{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
                     {"model", model}, {"choices", OrderedJson::array({choice})}};
}

OrderedJson models_json(const std::string& model, int64_t created) {
  OrderedJson m{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "imp"}};
  return OrderedJson{{"object", "list"}, {"data", OrderedJson::array({m})}};
}

std::string openai_finish_reason(const std::string& engine_reason) {
  return engine_reason == "length" ? "length" : "stop";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Every byte of the longer string is visited whatever the contents; only the lengths' equality leaks.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace imp::serve
