// Who am I in a multi-process run? Resolves rank, world size, local rank and the rendezvous address from
// the environment that a launcher (torchrun, Slurm srun, the deepspeed launcher, `imp launch`) sets.
// Torch-free. Precedence: torchrun-style RANK/WORLD_SIZE env > Slurm env > single process; inconsistent
// values are refused (imp::Error usage) instead of guessed.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace imp::dist {

struct LaunchInfo {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "none";  // none | torchrun | slurm | deepspeed | imp-launch | cli
  bool agent_store = false;       // TORCHELASTIC_USE_AGENT_STORE=True: every rank is a store client
  int restart_count = 0;          // TORCHELASTIC_RESTART_COUNT / SLURM_RESTART_COUNT
};

// Resolves from an environment map (+ the --local_rank flag of the deepspeed launcher, -1 = absent).
// torchrun: RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT (+TORCHELASTIC_*);
// Slurm srun (one task per GPU): SLURM_PROCID SLURM_NTASKS SLURM_LOCALID SLURM_NTASKS_PER_NODE /
// SLURM_STEP_TASKS_PER_NODE, head node from SLURM_JOB_NODELIST (MASTER_ADDR wins if set), port from
// MASTER_PORT or 15000 + SLURM_JOB_ID % 10000; RANK set together with SLURM_* = torchrun inside Slurm,
// torchrun wins; deepspeed launcher env (RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_SIZE + --local_rank);
// `--local_rank 0` alone = single process ("cli"). Conflicts throw imp::Error(usage) naming them.
LaunchInfo resolve_launch(const std::map<std::string, std::string>& env, int cli_local_rank = -1);
LaunchInfo resolve_launch_from_environ(int cli_local_rank = -1);

// The current process environment as a map (what resolve_launch_from_environ reads).
std::map<std::string, std::string> environ_map();

// First host of a Slurm hostlist: "gpu[01-03,07],cpu5" -> "gpu01", "a-[2-3]-b[7]" -> "a-2-b7".
std::string slurm_head_node(const std::string& nodelist);

// Rendezvous defaults under Slurm: MASTER_ADDR, else the head node of SLURM_JOB_NODELIST ("" if neither);
// MASTER_PORT, else 15000 + SLURM_JOB_ID % 10000 (as Lightning: jobs sharing a head node differ), else 29500.
std::string slurm_master_addr(const std::map<std::string, std::string>& env);
int slurm_master_port(const std::map<std::string, std::string>& env);

// Expands a Slurm tasks-per-node list: "2(x3),1" -> {2, 2, 2, 1}.
std::vector<int> slurm_tasks_per_node(const std::string& spec);

// One line for logs: "rank 1/4 (local 1/2) via torchrun, rendezvous 10.0.0.1:29500".
std::string describe(const LaunchInfo& info);

}  // namespace imp::dist
