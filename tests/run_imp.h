// Torch-free test helpers: fixture paths (IMP_TEST_DATA) and running the imp executable (IMP_BINARY).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace imp::test {

inline std::string data_path(const std::string& rel) { return std::string(IMP_TEST_DATA) + "/" + rel; }
inline std::string model_dir(const std::string& name) { return data_path("models/" + name); }

struct Run {
  int code;            // exit code, or 128 + signal when killed
  std::string output;  // stdout + stderr
};

// Runs the imp executable with `args` (and optional "VAR=value ..." environment assignments first).
inline Run run_imp(const std::string& args, const std::string& env = "") {
  const std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(IMP_BINARY) + " " + args + " 2>&1";
  Run r{0, ""};
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  return r;
}

}  // namespace imp::test
