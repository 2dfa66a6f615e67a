// Torch-free helpers for the training-argument tests: the three required flags, error matchers, temp files.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "imp/core/error.h"
#include "imp/train/args.h"

namespace imp::train::test {

inline std::vector<std::string> required_flags() {
  return {"--model_name_or_path", "models/phi-2", "--data_path", "data.json", "--output_dir", "out"};
}

// parse_train_args with the required flags followed by `extra`.
inline ParsedArgs parse_with(Stage stage, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = required_flags();
  argv.insert(argv.end(), extra.begin(), extra.end());
  return parse_train_args(stage, argv);
}

// Succeeds when fn throws imp::Error of `kind` whose message contains every needle.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, ErrorKind kind,
                                               const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    if (e.kind() != kind)
      return ::testing::AssertionFailure() << "error kind " << int(e.kind()) << " instead of " << int(kind) << ": "
                                           << msg;
    for (const auto& n : needles)
      if (msg.find(n) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << n << "': " << msg;
    return ::testing::AssertionSuccess() << msg;
  }
  return ::testing::AssertionFailure() << "no imp::Error thrown";
}

inline ::testing::AssertionResult usage_error(Stage stage, const std::vector<std::string>& extra,
                                              const std::vector<std::string>& needles) {
  return throws_error([&] { parse_with(stage, extra); }, ErrorKind::usage, needles);
}

inline bool has_notice(const ParsedArgs& p, const std::string& needle) {
  for (const auto& n : p.notices)
    if (n.find(needle) != std::string::npos) return true;
  return false;
}

// Writes `text` to a fresh file under the GoogleTest temp dir and returns its path.
inline std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "imp_train_args_" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace imp::train::test
