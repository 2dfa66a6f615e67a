// PCRE2-backed regex with Oniguruma-compatible semantics; see regex.h.
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include "regex.h"

#include <pcre2.h>

#include "imp/core/error.h"
#include "unicode.h"

namespace imp::text::detail {
namespace {

// Oniguruma's \s for Unicode text is the White_Space property (see unicode.cpp is_white_space).
constexpr const char* kWhiteSpaceClass =
    "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// True when `name` works as a PCRE2 script name (\p{sc:name}).
bool is_script_name(const std::string& name) {
  static const char* const kCategories[] = {"L", "L&", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd",
                                            "Nl", "No", "P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc",
                                            "Sk", "So", "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Cs", "Co", "Cn", "Any"};
  for (const char* c : kCategories)
    if (name == c) return false;
  if (name.empty() || name.find_first_of(":=") != std::string::npos || name[0] == '^') return false;
  const std::string probe = "\\p{sc:" + name + "}";
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(probe.data()), probe.size(), PCRE2_UTF | PCRE2_UCP, &err,
                                &off, nullptr);
  pcre2_code_free(c);
  return c != nullptr;
}

// Rewrites the pattern so PCRE2 matches what Oniguruma does:
// - \s / \S match exactly the White_Space set. Inside a character class \s is spliced in as a
//   range list; \S inside a class has no such splice and is left to PCRE2.
// - \p{Han} means the Script property (Oniguruma), not Script_Extensions (PCRE2 >= 10.40's
//   default, under which e.g. U+3002 "。" is Han too): scripts become \p{sc:Han}.
std::string translate_pattern(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's') {
        out += in_class ? std::string(kWhiteSpaceClass) : "[" + std::string(kWhiteSpaceClass) + "]";
      } else if (n == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceClass) + "]";
      } else if ((n == 'p' || n == 'P') && i + 2 < p.size() && p[i + 2] == '{' &&
                 p.find('}', i + 3) != std::string::npos) {
        const size_t close = p.find('}', i + 3);
        const std::string name = p.substr(i + 3, close - i - 3);
        out += std::string("\\") + n + "{" + (is_script_name(name) ? "sc:" : "") + name + "}";
        i = close;
        continue;
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

// One match context per thread: a JIT stack large enough for long whitespace runs, and limits that
// turn pathological backtracking (fuzzed patterns) into an error instead of a hang.
struct ThreadMatchState {
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_data* data = nullptr;
  ThreadMatchState() {
    ctx = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    if (ctx && stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
    if (ctx) {
      pcre2_set_match_limit(ctx, 50'000'000);
      pcre2_set_depth_limit(ctx, 100'000);
      pcre2_set_heap_limit(ctx, 64 * 1024);  // KiB
    }
    data = pcre2_match_data_create(32, nullptr);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(ctx);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, bool literal, const std::string& origin)
    : code_(std::make_unique<Code>()), pattern_(pattern), origin_(origin) {
  IMP_CHECK(is_valid_utf8(pattern), origin, ": regex pattern is not valid UTF-8");
  const std::string translated = literal ? pattern : translate_pattern(pattern);
  // PCRE2_LITERAL refuses UCP and MULTILINE, which only matter for real patterns anyway.
  uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK;
  options |= literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE;
  int err = 0;
  PCRE2_SIZE err_off = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), options, &err,
                              &err_off, nullptr);
  if (!code_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    IMP_FAIL(origin, ": unsupported or invalid regex '", pattern, "': ", reinterpret_cast<const char*>(msg),
             " (at offset ", err_off, ")");
  }
  // JIT is an optimisation only: without it (e.g. an unsupported CPU) the interpreter matches the same.
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

std::vector<Span> Regex::find_all(std::string_view s) const {
  std::vector<Span> out;
  ThreadMatchState& st = thread_state();
  IMP_CHECK_KIND(st.data && st.ctx, ErrorKind::internal, "out of memory creating PCRE2 match data");
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= s.size()) {
    const int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), last_end,
                               PCRE2_NO_UTF_CHECK, st.data, st.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      IMP_FAIL(origin_, ": regex '", pattern_, "' failed on a ", s.size(),
               "-byte piece: ", reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const size_t ms = ov[0], me = ov[1];
    if (ms == me && have_last && last_match_end == me) {
      // Oniguruma's iterator: no empty match right after the previous one; step one character.
      last_end += last_end < s.size() ? utf8_len(static_cast<unsigned char>(s[last_end])) : 1;
      continue;
    }
    last_end = me;
    last_match_end = me;
    have_last = true;
    out.push_back({ms, me});
  }
  return out;
}

std::unique_ptr<Regex> regex_from_json(const Json& j, const Where& w) {
  expect_object(j, w);
  if (const Json* s = find_field(j, "String")) return std::make_unique<Regex>(as_string(*s, w.at("String")), true, w.str());
  if (const Json* r = find_field(j, "Regex")) return std::make_unique<Regex>(as_string(*r, w.at("Regex")), false, w.str());
  IMP_FAIL(w.str(), ": expected {\"String\": ...} or {\"Regex\": ...}");
}

std::vector<std::pair<Span, bool>> matches_to_pieces(std::string_view s, const std::vector<Span>& matches) {
  std::vector<std::pair<Span, bool>> out;
  if (s.empty()) {
    out.push_back({{0, 0}, false});
    return out;
  }
  size_t prev = 0;
  for (const Span& m : matches) {
    if (prev != m.start) out.push_back({{prev, m.start}, false});
    out.push_back({m, true});
    prev = m.end;
  }
  if (prev != s.size()) out.push_back({{prev, s.size()}, false});
  return out;
}

}  // namespace imp::text::detail
