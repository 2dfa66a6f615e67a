// `imp launch` (start the local ranks of a data-parallel run) and `imp dist-check` (check the collectives).
#include <CLI/CLI.hpp>

#include <memory>

#include "imp/cli/registry.h"
#include "imp/core/error.h"
#include "imp/dist/dist_check.h"
#include "imp/dist/launcher.h"

namespace imp::cli {

namespace {

constexpr const char* kLaunchFooter = R"(Everything after '--' is the imp command each rank runs, passed through untouched.
Each rank gets RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR MASTER_PORT (and IMP_LAUNCHER=imp-launch).
SIGTERM/SIGINT/SIGUSR1 are forwarded to the ranks. When a rank fails, the others get SIGTERM and, after
--grace_period seconds, SIGKILL; the exit code is the failed rank's (128 + signal if it was killed).
Examples:
  imp launch --nproc_per_node 2 -- dist-check
  imp launch --nnodes 2 --node_rank 0 --master_addr 10.0.0.1 --nproc_per_node 8 -- finetune-lora ...
  srun --ntasks-per-node=1 imp launch --nnodes auto --nproc_per_node 8 -- finetune-lora ...)";

}  // namespace

void add_launch_command(CLI::App& root, Commands& out) {
  auto launch = std::make_shared<dist::LaunchOptions>();
  auto* c = root.add_subcommand("launch", "Start the local ranks of a data-parallel run (like torchrun --no_python)");
  c->footer(kLaunchFooter);
  c->add_option("--nproc_per_node,--nproc-per-node", launch->nproc_per_node, "ranks on this node")
      ->capture_default_str();
  c->add_option("--nnodes", launch->nnodes, "number of nodes, or 'auto' under Slurm (one task per node)")
      ->capture_default_str();
  c->add_option("--node_rank,--node-rank", launch->node_rank, "this node's index (several nodes)");
  c->add_option("--master_addr,--master-addr", launch->master_addr,
                "address of node 0 (default 127.0.0.1 on one node)");
  c->add_option("--master_port,--master-port", launch->master_port, "rendezvous port (default 29500; 0 = a free one)");
  c->add_option("--grace_period,--grace-period", launch->grace_period_s,
                "seconds between SIGTERM and SIGKILL when stopping the ranks")
      ->capture_default_str();
  c->add_option("command", launch->command, "imp subcommand and flags (after --)");
  c->positionals_at_end();
  c->prefix_command();  // everything from the first positional on belongs to the command
  out.push_back({c, [c, launch] {
                   for (const auto& extra : c->remaining())
                     IMP_CHECK_KIND(extra == "--", ErrorKind::usage, "imp launch: unknown flag '", extra,
                                    "' (the command for the ranks goes after '--')");
                   return dist::run_launch(*launch);
                 }});

  auto check = std::make_shared<dist::DistCheckOptions>();
  auto* d = root.add_subcommand("dist-check", "Check the data-parallel collectives and measure all_reduce bandwidth");
  d->footer("Run it like training: imp launch --nproc_per_node 2 -- dist-check, torchrun --no_python ... imp "
            "dist-check, or srun imp dist-check.");
  d->add_option("--size-mb,--size_mb", check->size_mb, "all_reduce payload (MiB, float32)")->capture_default_str();
  d->add_option("--iters", check->iters, "timed all_reduce iterations")->capture_default_str();
  d->add_option("--dist_timeout,--dist-timeout", check->dist_timeout_s, "rendezvous and collective timeout (s)")
      ->capture_default_str();
  d->add_option("--hold_seconds,--hold-seconds", check->hold_seconds,
                "afterwards keep running barriers this long (for fault tests)")
      ->capture_default_str();
  d->add_option("--device", check->device, "cpu (Gloo) | cuda (NCCL, cuda:<local rank>)")->capture_default_str();
  d->add_option("--local_rank,--local-rank", check->local_rank, "set by the deepspeed launcher");
  d->add_option("--fail_rank,--fail-rank", check->fail_rank,
                "fault injection: this rank exits with code 3 after the rendezvous (launcher tests)");
  d->add_option("--fail_attempt,--fail-attempt", check->fail_attempt,
                "... only on this restart count (TORCHELASTIC_RESTART_COUNT / SLURM_RESTART_COUNT)")
      ->capture_default_str();
  out.push_back({d, [check] { return dist::run_dist_check(*check); }});
}

}  // namespace imp::cli
