// `imp dist-check`: an nccl-tests-like check of the data-parallel setup. Creates the process group from the
// launcher environment, checks all_reduce / broadcast / barrier / scalar reductions / all_reduce_grads results
// exactly, and prints one line per rank plus an all_reduce bandwidth line on rank 0.
#pragma once

#include <string>

namespace imp::dist {

struct DistCheckOptions {
  double size_mb = 16;         // all_reduce payload of the bandwidth test (float32)
  int iters = 10;              // timed all_reduce iterations
  double dist_timeout_s = 60;  // rendezvous and per-collective timeout
  double hold_seconds = 0;     // afterwards keep all-reducing a small tensor this long (fault-injection tests)
  std::string device = "cpu";  // cpu (Gloo) | cuda (NCCL, device cuda:<local rank>)
  int local_rank = -1;         // --local_rank of the deepspeed launcher (-1: absent)
  int fail_rank = -1;          // fault injection for launcher tests: this rank exits with code 3 after the
  int fail_attempt = 0;        //   rendezvous when the restart count (TORCHELASTIC_/SLURM_RESTART_COUNT) is this
};

// Returns 0 when every check passed; throws imp::Error otherwise.
int run_dist_check(const DistCheckOptions& options);

}  // namespace imp::dist
