// Multi-process tests of imp's data-parallel plumbing on Gloo (CPU), with real processes of the imp binary:
//  * imp launch + dist-check: 2 ranks agree on every collective (all_reduce_grads included).
//  * FT-4 a dead (SIGKILL) or hung (SIGSTOP) peer: the survivor exits non-zero within timeout + margin,
//    naming the collective; under imp launch the other rank is stopped and everything is reaped.
//  * FT-5 rendezvous errors: WORLD_SIZE mismatch, wrong port, unreachable MASTER_ADDR -> clear error in time.
//  * imp launch forwards signals and passes the failing rank's exit code through.
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "child_process.h"

namespace imp::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kTimeoutS = 3;      // --dist_timeout of the failure tests
constexpr double kMarginS = 6;    // process start-up, LibTorch load, teardown

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// One dist-check rank started directly with the env:// variables (no launcher).
std::unique_ptr<ChildProcess> start_rank(int rank, int world, int port, const std::vector<std::string>& flags,
                                         const std::string& addr = "127.0.0.1", int local_rank = -1,
                                         int local_world = -1) {
  auto env = clean_environment();
  env["RANK"] = std::to_string(rank);
  env["WORLD_SIZE"] = std::to_string(world);
  env["LOCAL_RANK"] = std::to_string(local_rank < 0 ? rank : local_rank);
  env["LOCAL_WORLD_SIZE"] = std::to_string(local_world < 0 ? world : local_world);
  env["MASTER_ADDR"] = addr;
  env["MASTER_PORT"] = std::to_string(port);
  std::vector<std::string> args = {IMP_BINARY, "dist-check", "--size-mb", "0.25", "--iters", "2"};
  args.insert(args.end(), flags.begin(), flags.end());
  return std::make_unique<ChildProcess>(args, env);
}

std::vector<std::string> timeout_flags(double hold_s = 0) {
  return {"--dist_timeout", std::to_string(kTimeoutS), "--hold_seconds", std::to_string(hold_s)};
}

// Children of `parent` (from /proc/<pid>/stat).
std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> out;
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (dirent* d = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(d->d_name));
    if (pid <= 0) continue;
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.insert(pid);
  }
  closedir(proc);
  return out;
}

bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

TEST(DistIntegration, LaunchTwoRanksDistCheck) {
  ChildProcess launch({IMP_BINARY, "launch", "--nproc_per_node", "2", "--master_port", "0", "--", "dist-check",
                       "--size-mb", "1", "--iters", "3", "--dist_timeout", "20"},
                      clean_environment());
  const auto code = launch.wait(seconds(60));
  ASSERT_TRUE(code.has_value()) << "imp launch did not finish in 60 s\n" << launch.log();
  ASSERT_EQ(*code, 0) << launch.log();
  const std::string out = launch.out();
  EXPECT_TRUE(contains(out, "rank 0/2 (local 0/2) via imp-launch")) << out;
  EXPECT_TRUE(contains(out, "rank 1/2 (local 1/2) via imp-launch")) << out;
  EXPECT_TRUE(contains(out, "backend gloo, device cpu")) << out;
  EXPECT_TRUE(contains(out, "busbw")) << out;
  EXPECT_TRUE(contains(out, "dist-check: OK (2 ranks)")) << out;
}

TEST(DistIntegration, SingleProcessNeedsNoRendezvous) {
  ChildProcess one({IMP_BINARY, "dist-check", "--size-mb", "0.1", "--iters", "1"}, clean_environment());
  ASSERT_EQ(one.wait(seconds(30)), 0) << one.log();
  EXPECT_TRUE(contains(one.out(), "rank 0/1 (local 0/1) via none")) << one.out();
  EXPECT_TRUE(contains(one.out(), "backend none")) << one.out();
}

// FT-4: rank 1 is SIGKILLed mid-run; rank 0 must fail fast and say in which collective.
TEST(DistIntegration, DeadPeerFailsTheSurvivorInTime) {
  const int port = free_port();
  auto r0 = start_rank(0, 2, port, timeout_flags(60));
  auto r1 = start_rank(1, 2, port, timeout_flags(60));
  ASSERT_TRUE(r0->wait_for_output("rank 0 checks passed, holding", seconds(30))) << r0->log();
  ASSERT_TRUE(r1->wait_for_output("rank 1 checks passed, holding", seconds(30))) << r1->log();
  ASSERT_EQ(kill(r1->pid(), SIGKILL), 0);
  ASSERT_EQ(r1->wait(seconds(5)), 128 + SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  const auto code = r0->wait(milliseconds(static_cast<int>((kTimeoutS + kMarginS) * 1000)));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(code.has_value()) << "rank 0 still running " << waited << " s after its peer died\n" << r0->log();
  EXPECT_EQ(*code, 4) << r0->log();  // ErrorKind::io
  EXPECT_TRUE(contains(r0->err(), "collective barrier ('dist-check hold') failed on rank 0/2")) << r0->log();
}

// FT-4: a peer that hangs (SIGSTOP) rather than dies: the collective timeout fires.
TEST(DistIntegration, HungPeerTimesOut) {
  const int port = free_port();
  auto r0 = start_rank(0, 2, port, timeout_flags(60));
  auto r1 = start_rank(1, 2, port, timeout_flags(60));
  ASSERT_TRUE(r0->wait_for_output("rank 0 checks passed, holding", seconds(30))) << r0->log();
  ASSERT_TRUE(r1->wait_for_output("rank 1 checks passed, holding", seconds(30))) << r1->log();
  ASSERT_EQ(kill(r1->pid(), SIGSTOP), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto code = r0->wait(milliseconds(static_cast<int>((kTimeoutS + kMarginS) * 1000)));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(r1->pid(), SIGKILL);
  ASSERT_TRUE(code.has_value()) << "rank 0 still running " << waited << " s after its peer hung\n" << r0->log();
  EXPECT_EQ(*code, 4) << r0->log();
  EXPECT_GE(waited, kTimeoutS - 1.0) << "failed before the timeout: " << r0->log();
  EXPECT_TRUE(contains(r0->err(), "collective barrier ('dist-check hold') failed")) << r0->log();
  EXPECT_TRUE(contains(r0->err(), "timeout 3 s")) << r0->log();
}

// FT-4 under imp launch: a rank SIGKILLed -> the launcher stops the other and exits 128 + 9; nothing left.
TEST(DistIntegration, LaunchStopsTheOtherRanksWhenOneDies) {
  ChildProcess launch({IMP_BINARY, "launch", "--nproc_per_node", "2", "--master_port", "0", "--grace_period", "3",
                       "--", "dist-check", "--size-mb", "0.25", "--iters", "2", "--dist_timeout", "20",
                       "--hold_seconds", "60"},
                      clean_environment());
  ASSERT_TRUE(launch.wait_for_output("rank 1 checks passed, holding", seconds(30))) << launch.log();
  ASSERT_TRUE(launch.wait_for_output("rank 0 checks passed, holding", seconds(30))) << launch.log();
  const auto ranks = children_of(launch.pid());
  ASSERT_EQ(ranks.size(), 2u) << launch.log();
  ASSERT_EQ(kill(*ranks.rbegin(), SIGKILL), 0);
  const auto code = launch.wait(seconds(3 + 5));
  ASSERT_TRUE(code.has_value()) << "imp launch still running\n" << launch.log();
  EXPECT_EQ(*code, 128 + SIGKILL) << launch.log();
  EXPECT_TRUE(contains(launch.err(), "was killed by")) << launch.log();
  for (pid_t pid : ranks) EXPECT_TRUE(process_gone(pid)) << "rank process " << pid << " left behind";
}

// imp launch forwards SIGTERM and SIGUSR1 (dist-check does not catch them, so the ranks die of them).
TEST(DistIntegration, LaunchForwardsSignals) {
  for (int sig : {SIGTERM, SIGUSR1}) {
    SCOPED_TRACE(strsignal(sig));
    ChildProcess launch({IMP_BINARY, "launch", "--nproc_per_node", "2", "--master_port", "0", "--", "dist-check",
                         "--size-mb", "0.25", "--iters", "1", "--hold_seconds", "60"},
                        clean_environment());
    ASSERT_TRUE(launch.wait_for_output("rank 1 checks passed, holding", seconds(30))) << launch.log();
    ASSERT_TRUE(launch.wait_for_output("rank 0 checks passed, holding", seconds(30))) << launch.log();
    const auto ranks = children_of(launch.pid());
    ASSERT_EQ(kill(launch.pid(), sig), 0);
    const auto code = launch.wait(seconds(10));
    ASSERT_TRUE(code.has_value()) << launch.log();
    EXPECT_EQ(*code, 128 + sig) << launch.log();
    EXPECT_TRUE(contains(launch.err(), "forwarding it to the ranks")) << launch.log();
    for (pid_t pid : ranks) EXPECT_TRUE(process_gone(pid));
  }
}

TEST(DistIntegration, LaunchPassesTheRanksExitCode) {
  ChildProcess bad({IMP_BINARY, "launch", "--nproc_per_node", "2", "--master_port", "0", "--", "dist-check",
                    "--iters", "0"},
                   clean_environment());
  ASSERT_EQ(bad.wait(seconds(30)), 2) << bad.log();  // usage error of the ranks
  EXPECT_TRUE(contains(bad.err(), "exited with code 2")) << bad.log();

  ChildProcess no_command({IMP_BINARY, "launch", "--nproc_per_node", "2"}, clean_environment());
  ASSERT_EQ(no_command.wait(seconds(30)), 2) << no_command.log();
  EXPECT_TRUE(contains(no_command.err(), "after '--'")) << no_command.log();

  ChildProcess unknown({IMP_BINARY, "launch", "--nproc_per_node", "2", "--bogus", "--", "dist-check"},
                       clean_environment());
  ASSERT_EQ(unknown.wait(seconds(30)), 2) << unknown.log();
  EXPECT_TRUE(contains(unknown.err(), "unknown flag '--bogus'")) << unknown.log();
}

void expect_fails_in_time(ChildProcess& p, const std::string& message) {
  const auto code = p.wait(milliseconds(static_cast<int>((kTimeoutS + kMarginS) * 1000)));
  ASSERT_TRUE(code.has_value()) << "still running after " << p.seconds_run() << " s\n" << p.log();
  EXPECT_NE(*code, 0) << p.log();
  EXPECT_TRUE(contains(p.err(), message)) << "expected '" << message << "'\n" << p.log();
}

// FT-5: ranks disagree on WORLD_SIZE.
TEST(DistIntegration, WorldSizeMismatchIsRefused) {
  const int port = free_port();
  auto r0 = start_rank(0, 2, port, timeout_flags());
  auto r1 = start_rank(1, 3, port, timeout_flags());
  expect_fails_in_time(*r0, "WORLD_SIZE mismatch: rank 0 has WORLD_SIZE=2 but rank 1 has WORLD_SIZE=3");
  expect_fails_in_time(*r1, "WORLD_SIZE mismatch: rank 1 has WORLD_SIZE=3 but rank 0 has WORLD_SIZE=2");
}

// FT-5: the ranks were given different ports: rank 0 waits for a client that never comes, rank 1 finds nobody.
TEST(DistIntegration, WrongPortFailsInTime) {
  auto r0 = start_rank(0, 2, free_port(), timeout_flags());
  auto r1 = start_rank(1, 2, free_port(), timeout_flags());
  expect_fails_in_time(*r0, "rendezvous failed: rank 0 hosts the TCPStore at 127.0.0.1:");
  EXPECT_TRUE(contains(r0->err(), "but rank(s) 1 of WORLD_SIZE=2 did not join within 3 s")) << r0->log();
  expect_fails_in_time(*r1, "rendezvous failed: rank 1/2 could not reach the TCPStore");
}

// FT-5: MASTER_ADDR nobody answers on (TEST-NET-1, RFC 5737).
TEST(DistIntegration, UnreachableMasterFailsInTime) {
  auto r1 = start_rank(1, 2, 29500, timeout_flags(), "192.0.2.1", /*local_rank=*/0, /*local_world=*/1);
  expect_fails_in_time(*r1, "could not reach the TCPStore at 192.0.2.1:29500");
}

// The real torchrun contract: static rendezvous = TORCHELASTIC_USE_AGENT_STORE=True, every rank a client of
// the agent's store under /worker/attempt_<n>. Rank 1 fails on attempt 0; torchrun restarts both; attempt 1
// must rendezvous on fresh keys (without the prefix it would see attempt 0's). The launcher must belong to the
// torch imp links (IMP_TORCHRUN, found at configure time): TCPStores of different versions do not talk.
TEST(DistIntegration, TorchrunAgentStoreAndRestart) {
  const std::string torchrun = IMP_TORCHRUN;
  if (torchrun.empty() || access(torchrun.c_str(), X_OK) != 0)
    GTEST_SKIP() << "no torchrun of the torch this imp links ('" << torchrun << "'): the wheel venv's bin/torchrun "
                 << "(IMP_TORCH=wheel) or Debian's python3-torch /usr/bin/torchrun (IMP_TORCH=system)";
  // Debian's torchrun 1.13 on Python 3.11 fails on its default --redirects 0 (IntFlag iteration); 1 works.
  ChildProcess run({torchrun, "--no_python", "--redirects", "1", "--tee", "1", "--nproc_per_node", "2",
                    "--max_restarts", "1", "--monitor_interval", "0.2", "--master_port", std::to_string(free_port()),
                    IMP_BINARY, "dist-check", "--size-mb", "0.25", "--iters", "1", "--dist_timeout", "10",
                    "--fail_rank", "1", "--fail_attempt", "0"},
                   clean_environment());
  const auto code = run.wait(seconds(90));
  ASSERT_TRUE(code.has_value()) << run.log();
  if (*code != 0 && contains(run.err(), "No module named")) GTEST_SKIP() << "torchrun without its Python torch";
  ASSERT_EQ(*code, 0) << run.log();
  EXPECT_TRUE(contains(run.out(), "rank 1/2 (local 1/2) via torchrun, rendezvous 127.0.0.1:")) << run.log();
  EXPECT_TRUE(contains(run.out(), "(agent store, attempt 1), backend gloo")) << run.log();
  EXPECT_TRUE(contains(run.err(), "rank 1 fails on purpose (--fail_rank, attempt 0)")) << run.log();
  EXPECT_TRUE(contains(run.out(), "dist-check: OK (2 ranks)")) << run.log();
}

}  // namespace
}  // namespace imp::test
