// SIGTERM / SIGUSR1 (Slurm preemption, time limits, `scancel --signal`): the handler only records the
// signal; the trainer polls it once per optimizer step and agrees across ranks (MAX all-reduce), so every
// rank stops at the same step, commits a checkpoint and exits with kExitStoppedBySignal.
#pragma once

namespace imp::train {

constexpr int kExitStoppedBySignal = 75;  // EX_TEMPFAIL: checkpoint committed, resume to continue

void install_stop_handlers();
int stop_signal();  // 0, or the first signal received
void clear_stop_signal();

}  // namespace imp::train
