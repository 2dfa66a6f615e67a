// One training stage end to end (imp pretrain | finetune-lora | finetune): process group from the
// launcher's environment, model, data, the optimisation loop (accumulation, token-normalised loss,
// data-parallel gradient sums, clipping, AdamW, schedule, loss scaling), checkpoints with exact resume,
// graceful stop on signals, metrics, and the stage's final artefacts.
#pragma once

#include <string>
#include <vector>

#include "imp/train/args.h"

namespace imp::train {

// Returns the process exit code: 0 when done, kExitStoppedBySignal after a signal-stop checkpoint.
int run_training(Stage stage, const TrainArgs& args, const std::vector<std::string>& notices);

}  // namespace imp::train
