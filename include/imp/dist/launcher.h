// `imp launch`: starts the local ranks of a data-parallel run as child processes of this executable (like
// torchrun --no_python, without restarts), forwards SIGTERM/SIGINT/SIGUSR1 to them, and when one fails stops
// the others (SIGTERM, then SIGKILL after a grace period). Torch-free.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace imp::dist {

struct LaunchOptions {
  int nproc_per_node = 1;
  std::string nnodes = "1";     // a number, or "auto": from Slurm (one task per node, SLURM_NODEID)
  int node_rank = -1;           // -1: 0 for one node, required for several (auto: SLURM_NODEID)
  std::string master_addr;      // "": 127.0.0.1 for one node, required for several (auto: MASTER_ADDR / head node)
  int master_port = -1;         // -1: 29500 (auto: MASTER_PORT / 15000 + SLURM_JOB_ID % 10000); 0: a free port
  double grace_period_s = 30;   // SIGTERM -> SIGKILL delay when stopping the ranks
  std::vector<std::string> command;  // imp subcommand and its flags, passed through untouched
};

// Where this node's ranks sit in the run.
struct LaunchPlan {
  int nnodes = 1, node_rank = 0, nproc_per_node = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// Resolves the flags (and, for --nnodes auto, the Slurm environment); refuses inconsistent ones
// (imp::Error usage). A master_port of 0 stays 0 here; run_launch picks the free port.
LaunchPlan plan_launch(const LaunchOptions& options, const std::map<std::string, std::string>& env);

// The environment of local rank `local_rank`: `parent` without any launcher variables of an outer launcher
// (RANK, LOCAL_*, MASTER_*, TORCHELASTIC_*, ...), plus RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE GROUP_RANK
// MASTER_ADDR MASTER_PORT and IMP_LAUNCHER=imp-launch. Entries are "NAME=value".
std::vector<std::string> child_environment(const LaunchPlan& plan, int local_rank,
                                           const std::map<std::string, std::string>& parent);

// A TCP port that is free right now (imp launch --master_port 0; tests).
int free_tcp_port();

// Runs the ranks to completion. Returns 0 when all exit 0, else the exit code of the first rank that failed
// (128 + signal number when it was killed by a signal).
int run_launch(const LaunchOptions& options);

}  // namespace imp::dist
