// A child process for the distributed integration tests: started with its own environment, stdout/stderr
// captured to files, waited for with a deadline, always reaped (no zombies left by a failing test).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "imp/dist/launch_env.h"
#include "imp/dist/launcher.h"

namespace imp::test {

// This process's environment without the variables of any launcher the tests may run under.
inline std::map<std::string, std::string> clean_environment() {
  auto env = dist::environ_map();
  static const char* const kDrop[] = {"RANK",       "WORLD_SIZE",  "LOCAL_RANK",   "LOCAL_WORLD_SIZE", "LOCAL_SIZE",
                                      "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT", "IMP_LAUNCHER",     "CROSS_RANK"};
  for (auto it = env.begin(); it != env.end();) {
    bool drop = it->first.rfind("SLURM_", 0) == 0 || it->first.rfind("TORCHELASTIC_", 0) == 0;
    for (const char* d : kDrop) drop = drop || it->first == d;
    it = drop ? env.erase(it) : std::next(it);
  }
  env["OMP_NUM_THREADS"] = "1";
  return env;
}

inline int free_port() { return dist::free_tcp_port(); }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    static int counter = 0;
    const std::string base = "/tmp/imp_dist_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> argv, envp;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const std::string out = out_path_, err = err_path_;
    pid_ = fork();
    if (pid_ == 0) {
      if (!std::freopen(out.c_str(), "w", stdout) || !std::freopen(err.c_str(), "w", stderr)) _exit(126);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    started_ = std::chrono::steady_clock::now();
  }
  ~ChildProcess() {
    if (!code_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::remove(out_path_.c_str());
    std::remove(err_path_.c_str());
  }

  pid_t pid() const { return pid_; }

  // The exit code (128 + signal when killed), or nullopt if it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!code_) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ended_ = std::chrono::steady_clock::now();
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return code_;
  }

  // Waits until stdout contains `text` (or the process ended / the timeout passed).
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (out().find(text) != std::string::npos) return true;
      if (wait(std::chrono::milliseconds(0))) return out().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  double seconds_run() const {
    return std::chrono::duration<double>((code_ ? ended_ : std::chrono::steady_clock::now()) - started_).count();
  }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }
  std::string log() const { return "--- stdout:\n" + out() + "--- stderr:\n" + err(); }

 private:
  pid_t pid_ = -1;
  std::optional<int> code_;
  std::chrono::steady_clock::time_point started_, ended_;
  std::string out_path_, err_path_;
};

}  // namespace imp::test
