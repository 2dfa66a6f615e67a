// Python str helpers over UTF-8; see score_text.h.
#include "imp/eval/score_text.h"

#include <utf8proc.h>

#include "imp/core/utf8.h"

namespace imp::eval::py {
namespace {

utf8proc_category_t category(uint32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }

// Unicode "Cased" (approximated by the letter categories Lu/Ll/Lt plus characters that have a case
// mapping) and "Case_Ignorable" (Mn, Me, Cf, Lm, Sk and the Word_Break MidLetter/MidNumLet/
// Single_Quote characters), which decide Python's final-sigma rule.
bool is_cased(uint32_t cp) {
  const auto c = category(cp);
  if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT) return true;
  const auto p = static_cast<utf8proc_int32_t>(cp);
  return utf8proc_tolower(p) != p || utf8proc_toupper(p) != p;
}

bool is_case_ignorable(uint32_t cp) {
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  switch (cp) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
      return true;
    default:
      return false;
  }
}

std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    cps.push_back(decode(s, i, &n));
    i += n;
  }
  return cps;
}

}  // namespace

uint32_t decode(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 1;
  if (i + n > s.size()) n = 1;
  uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *len = n;
  return cp;
}

bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

bool is_decimal(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return category(cp) == UTF8PROC_CATEGORY_ND;
}

std::string lower(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  std::string out;
  out.reserve(s.size());
  if (ascii) {
    for (char c : s) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return out;
  }
  const std::vector<uint32_t> cps = code_points(s);
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    if (cp == 0x130) {  // SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE
      append_utf8(out, 0x69);
      append_utf8(out, 0x307);
    } else if (cp == 0x3A3) {  // Final_Sigma: cased letter before, none after (skipping case-ignorables)
      size_t j = i;
      while (j > 0 && is_case_ignorable(cps[j - 1])) --j;
      const bool before = j > 0 && is_cased(cps[j - 1]);
      size_t k = i + 1;
      while (k < cps.size() && is_case_ignorable(cps[k])) ++k;
      const bool after = k < cps.size() && is_cased(cps[k]);
      append_utf8(out, before && !after ? 0x3C2 : 0x3C3);
    } else {
      append_utf8(out, static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> parts;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    const uint32_t cp = decode(s, i, &n);
    if (is_space(cp)) {
      if (in_word) parts.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur.append(s.substr(i, n));
      in_word = true;
    }
    i += n;
  }
  if (in_word) parts.push_back(cur);
  return parts;
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) break;
    parts.emplace_back(s.substr(start, pos - start));
    start = pos + sep.size();
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

std::string strip(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    size_t n = 1;
    if (!is_space(decode(s, begin, &n))) break;
    begin += n;
  }
  while (end > begin) {
    size_t start = end - 1;  // back up to the lead byte of the last code point
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t n = 1;
    if (!is_space(decode(s, start, &n))) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

std::string rstrip_chars(std::string_view s, std::string_view chars) {
  size_t end = s.size();
  while (end > 0 && chars.find(s[end - 1]) != std::string_view::npos) --end;
  return std::string(s.substr(0, end));
}

std::string replace(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(from, start);
    if (pos == std::string_view::npos) break;
    out.append(s.substr(start, pos - start));
    out.append(to);
    start = pos + from.size();
  }
  out.append(s.substr(start));
  return out;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

}  // namespace imp::eval::py
