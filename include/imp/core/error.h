// imp::Error and the IMP_CHECK / IMP_FAIL macros: every failure in the library is an exception with
// context ("what: problem; expected X, got Y" plus an optional "hint:" line), caught once in main.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace imp {

// The class decides the process exit code (see main.cpp and README "Exit codes").
enum class ErrorKind {
  internal = 1,  // a bug or an unexpected library failure
  usage = 2,     // wrong flag or flag value
  input = 3,     // a bad file: corrupt checkpoint, malformed JSON, wrong shapes, missing tensors
  io = 4,        // the file system: missing file, unwritable directory, full disk
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::input)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

// Builds a message from any streamable pieces: imp::str("shape ", n, " != ", m).
template <typename... Args>
std::string str(Args&&... args) {
  return detail::concat(std::forward<Args>(args)...);
}

// A string read from an untrusted file, for a message: in single quotes, control bytes escaped (\x1b),
// cut after 200 bytes.
inline std::string quote(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (s.size() > 200 ? "...'" : "'");
}

}  // namespace imp

// Throws imp::Error(kind input) unless cond holds. The message is the streamed arguments.
#define IMP_CHECK(cond, ...)                                     \
  do {                                                           \
    if (!(cond)) throw ::imp::Error(::imp::str(__VA_ARGS__));    \
  } while (0)

// Same with an explicit kind: IMP_CHECK_KIND(ok, ::imp::ErrorKind::usage, "...").
#define IMP_CHECK_KIND(cond, kind, ...)                                \
  do {                                                                 \
    if (!(cond)) throw ::imp::Error(::imp::str(__VA_ARGS__), (kind));  \
  } while (0)

#define IMP_FAIL(...) throw ::imp::Error(::imp::str(__VA_ARGS__))
