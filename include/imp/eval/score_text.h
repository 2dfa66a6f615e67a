// Python str semantics the official scorers rely on, for UTF-8 text: str.lower() (full case
// mapping incl. U+0130 and the final-sigma rule), str.isspace()/split()/strip(), re's \d (Unicode
// decimal digits), str.replace(). Unicode tables come from utf8proc; Python 3.11 uses Unicode 14.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imp::eval::py {

bool is_space(uint32_t cp);    // str.isspace() for one code point
bool is_decimal(uint32_t cp);  // re \d on str patterns: general category Nd
std::string lower(std::string_view s);
std::vector<std::string> split(std::string_view s);  // str.split() with no arguments
std::vector<std::string> split(std::string_view s, std::string_view sep);  // str.split(sep)
std::string strip(std::string_view s);               // str.strip() with no arguments
std::string rstrip_chars(std::string_view s, std::string_view chars);  // str.rstrip(chars), ASCII chars
std::string replace(std::string_view s, std::string_view from, std::string_view to);  // from non-empty
size_t length(std::string_view s);  // len(): code points
bool contains(std::string_view s, std::string_view part);

// Code point iteration over valid UTF-8 (the JSON reader guarantees validity).
uint32_t decode(std::string_view s, size_t i, size_t* len);

}  // namespace imp::eval::py
