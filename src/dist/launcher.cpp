// imp launch: fork/exec the local ranks, supervise them with sigtimedwait, stop them all when one fails.
#include "imp/dist/launcher.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "imp/core/error.h"
#include "imp/dist/launch_env.h"

namespace imp::dist {
namespace {

constexpr auto kUsage = ErrorKind::usage;
using Clock = std::chrono::steady_clock;

std::optional<int> to_int(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9) return std::nullopt;
  return std::stoi(s);
}

// Variables an outer launcher may have set that would contradict ours.
bool is_launcher_variable(const std::string& name) {
  static const char* const kNames[] = {"RANK",       "WORLD_SIZE",  "LOCAL_RANK",      "LOCAL_WORLD_SIZE",
                                       "LOCAL_SIZE", "GROUP_RANK",  "GROUP_WORLD_SIZE", "ROLE_RANK",
                                       "ROLE_NAME",  "ROLE_WORLD_SIZE", "MASTER_ADDR",  "MASTER_PORT",
                                       "CROSS_RANK", "CROSS_SIZE",  "IMP_LAUNCHER"};
  for (const char* n : kNames)
    if (name == n) return true;
  return name.rfind("TORCHELASTIC_", 0) == 0;
}

std::string self_executable() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  IMP_CHECK_KIND(n > 0, ErrorKind::io, "imp launch: cannot read /proc/self/exe: ", std::strerror(errno));
  return std::string(buf, static_cast<size_t>(n));
}

struct Child {
  pid_t pid = -1;
  int local_rank = 0;
  bool running = false;
};

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

void signal_all(std::vector<Child>& children, int sig) {
  for (auto& c : children)
    if (c.running) kill(c.pid, sig);
}

}  // namespace

int free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  IMP_CHECK_KIND(fd >= 0, ErrorKind::io, "imp launch: socket() failed: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  IMP_CHECK_KIND(ok, ErrorKind::io, "imp launch: could not find a free port: ", std::strerror(err),
                 "; pass --master_port");
  return ntohs(addr.sin_port);
}

LaunchPlan plan_launch(const LaunchOptions& o, const std::map<std::string, std::string>& env) {
  IMP_CHECK_KIND(!o.command.empty(), kUsage,
                 "imp launch needs the imp command to run after '--', e.g. imp launch --nproc_per_node 2 -- dist-check");
  IMP_CHECK_KIND(o.nproc_per_node >= 1, kUsage, "--nproc_per_node must be at least 1, got ", o.nproc_per_node);
  IMP_CHECK_KIND(o.grace_period_s >= 0, kUsage, "--grace_period must be >= 0 seconds");
  IMP_CHECK_KIND(o.master_port >= -1 && o.master_port <= 65535, kUsage, "--master_port ", o.master_port,
                 " is not a TCP port (0 = pick a free one, single node only)");
  LaunchPlan plan;
  plan.nproc_per_node = o.nproc_per_node;
  if (o.nnodes == "auto") {
    auto get = [&](const char* k) {
      auto it = env.find(k);
      return it == env.end() ? std::string() : it->second;
    };
    std::string nodes = get("SLURM_NNODES");
    if (nodes.empty()) nodes = get("SLURM_JOB_NUM_NODES");
    const auto nnodes = to_int(nodes), node_id = to_int(get("SLURM_NODEID"));
    IMP_CHECK_KIND(nnodes && *nnodes >= 1 && node_id, kUsage,
                   "--nnodes auto reads SLURM_NNODES and SLURM_NODEID, which are not set (or not numbers); run "
                   "it under srun with one task per node, or give --nnodes/--node_rank");
    const auto ntasks = to_int(get("SLURM_NTASKS"));
    IMP_CHECK_KIND(!ntasks || *ntasks == *nnodes, kUsage, "--nnodes auto needs one imp launch per node "
                   "(srun --ntasks-per-node=1), but SLURM_NTASKS=", *ntasks, " for SLURM_NNODES=", *nnodes);
    IMP_CHECK_KIND(o.node_rank < 0 || o.node_rank == *node_id, kUsage, "--node_rank ", o.node_rank,
                   " conflicts with SLURM_NODEID=", *node_id, " under --nnodes auto");
    plan.nnodes = *nnodes;
    plan.node_rank = *node_id;
    plan.master_addr = o.master_addr.empty() ? slurm_master_addr(env) : o.master_addr;
    IMP_CHECK_KIND(!plan.master_addr.empty() || plan.nnodes == 1, kUsage,
                   "--nnodes auto: neither --master_addr, MASTER_ADDR nor SLURM_JOB_NODELIST says where node 0 is");
    if (plan.master_addr.empty()) plan.master_addr = "127.0.0.1";
    plan.master_port = o.master_port >= 0 ? o.master_port : slurm_master_port(env);
  } else {
    const auto nnodes = to_int(o.nnodes);
    IMP_CHECK_KIND(nnodes && *nnodes >= 1, kUsage, "--nnodes is a number >= 1 or 'auto', not '", o.nnodes, "'");
    plan.nnodes = *nnodes;
    IMP_CHECK_KIND(o.node_rank >= 0 || plan.nnodes == 1, kUsage, "--nnodes ", plan.nnodes,
                   " needs --node_rank (0 .. ", plan.nnodes - 1, ") on every node");
    plan.node_rank = std::max(o.node_rank, 0);
    IMP_CHECK_KIND(!o.master_addr.empty() || plan.nnodes == 1, kUsage, "--nnodes ", plan.nnodes,
                   " needs --master_addr: the address of node 0, reachable from every node");
    if (!o.master_addr.empty()) plan.master_addr = o.master_addr;
    plan.master_port = o.master_port >= 0 ? o.master_port : 29500;
  }
  IMP_CHECK_KIND(plan.node_rank < plan.nnodes, kUsage, "node rank ", plan.node_rank, " is not below the number of nodes ",
                 plan.nnodes);
  IMP_CHECK_KIND(plan.master_port != 0 || plan.nnodes == 1, kUsage,
                 "--master_port 0 (pick a free port) works on one node only; give every node the same port");
  return plan;
}

std::vector<std::string> child_environment(const LaunchPlan& plan, int local_rank,
                                           const std::map<std::string, std::string>& parent) {
  std::vector<std::string> out;
  for (const auto& [k, v] : parent)
    if (!is_launcher_variable(k)) out.push_back(k + "=" + v);
  const int world = plan.nnodes * plan.nproc_per_node;
  out.push_back(str("RANK=", plan.node_rank * plan.nproc_per_node + local_rank));
  out.push_back(str("WORLD_SIZE=", world));
  out.push_back(str("LOCAL_RANK=", local_rank));
  out.push_back(str("LOCAL_WORLD_SIZE=", plan.nproc_per_node));
  out.push_back(str("GROUP_RANK=", plan.node_rank));
  out.push_back(str("GROUP_WORLD_SIZE=", plan.nnodes));
  out.push_back("MASTER_ADDR=" + plan.master_addr);
  out.push_back(str("MASTER_PORT=", plan.master_port));
  out.push_back("IMP_LAUNCHER=imp-launch");
  // As torchrun: several CPU-hungry ranks on one node share its cores unless the user says otherwise.
  if (!parent.count("OMP_NUM_THREADS") && plan.nproc_per_node > 1) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    out.push_back(str("OMP_NUM_THREADS=", std::max(1u, cores / static_cast<unsigned>(plan.nproc_per_node))));
  }
  return out;
}

int run_launch(const LaunchOptions& options) {
  const auto parent_env = environ_map();
  LaunchPlan plan = plan_launch(options, parent_env);
  if (plan.master_port == 0) plan.master_port = free_tcp_port();  // rank 0 binds it moments later

  // Everything the children need is built before fork (the child only calls async-signal-safe functions).
  const std::string exe = self_executable();
  std::vector<std::string> args{exe};
  args.insert(args.end(), options.command.begin(), options.command.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::vector<std::string>> envs;
  std::vector<std::vector<char*>> envps;
  for (int r = 0; r < plan.nproc_per_node; ++r) envs.push_back(child_environment(plan, r, parent_env));
  for (auto& e : envs) {
    envps.emplace_back();
    for (auto& kv : e) envps.back().push_back(const_cast<char*>(kv.c_str()));
    envps.back().push_back(nullptr);
  }
  const int first_rank = plan.node_rank * plan.nproc_per_node;
  std::fprintf(stderr, "imp launch: node %d/%d starts ranks %d-%d of %d, rendezvous %s:%d\n", plan.node_rank,
               plan.nnodes, first_rank, first_rank + plan.nproc_per_node - 1, plan.nnodes * plan.nproc_per_node,
               plan.master_addr.c_str(), plan.master_port);

  sigset_t watched, old_mask;
  sigemptyset(&watched);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&watched, s);
  sigprocmask(SIG_BLOCK, &watched, &old_mask);
  const pid_t self = getpid();
  const char exec_failed[] = "imp launch: could not execute the imp binary (/proc/self/exe)\n";

  std::vector<Child> children(plan.nproc_per_node);
  std::optional<int> failure;  // exit code of the first rank that failed
  std::optional<Clock::time_point> kill_at;
  auto stop_all = [&](int code, const std::string& why) {
    if (!failure) failure = code;
    if (!kill_at) {
      std::fprintf(stderr, "imp launch: %s; stopping the other ranks (SIGTERM, SIGKILL after %.0f s)\n", why.c_str(),
                   options.grace_period_s);
      signal_all(children, SIGTERM);
      kill_at = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(options.grace_period_s * 1000));
    }
  };

  for (int r = 0; r < plan.nproc_per_node && !failure; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      sigprocmask(SIG_SETMASK, &old_mask, nullptr);
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher died (even by SIGKILL): do not linger
      if (getppid() != self) _exit(128 + SIGTERM);
      execve(exe.c_str(), argv.data(), envps[r].data());
      (void)!write(STDERR_FILENO, exec_failed, sizeof(exec_failed) - 1);
      _exit(127);
    }
    if (pid < 0) {
      stop_all(1, str("fork failed for local rank ", r, ": ", std::strerror(errno)));
      break;
    }
    children[r] = Child{pid, r, true};
  }

  auto running = [&] {
    int n = 0;
    for (auto& c : children) n += c.running;
    return n;
  };
  while (running() > 0) {
    siginfo_t info;
    const timespec tick{0, 50 * 1000 * 1000};
    const int sig = sigtimedwait(&watched, &info, &tick);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1) {
      std::fprintf(stderr, "imp launch: got %s, forwarding it to the ranks\n", strsignal(sig));
      signal_all(children, sig);
      if (sig != SIGUSR1 && !kill_at)  // USR1 asks for a checkpoint; the run goes on
        kill_at = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(options.grace_period_s * 1000));
    }
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& c : children) {
        if (c.pid != pid || !c.running) continue;
        c.running = false;
        const int code = exit_code_of(status);
        if (code != 0)
          stop_all(code, str("rank ", first_rank + c.local_rank, " (local ", c.local_rank, ", pid ", pid, ") ",
                             WIFSIGNALED(status) ? str("was killed by ", strsignal(WTERMSIG(status))) :
                                                   str("exited with code ", code)));
      }
    }
    if (kill_at && Clock::now() >= *kill_at && running() > 0) {
      std::fprintf(stderr, "imp launch: %d rank(s) still running after the %.0f s grace period; SIGKILL\n", running(),
                   options.grace_period_s);
      signal_all(children, SIGKILL);
      kill_at = Clock::time_point::max();
    }
  }
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  return failure.value_or(0);
}

}  // namespace imp::dist
