// Imp checkpoints whose vision tower lives in its own SigLIP directory (mm_vision_tower): whether a checkpoint
// holds the tower itself, and adding that directory's weights under the names an Imp checkpoint gives them.
#pragma once

#include <string>

#include "imp/io/state_dict.h"

namespace imp {

// True when `sd` holds tower weights under kImpTowerPrefix (imp_model.h).
bool has_tower_weights(const StateDict& sd);
// Adds the weights of the SigLIP directory `tower_dir` ("vision_model.*") to `sd` as kImpTowerPrefix + "vision_model.*".
void add_tower_weights(StateDict& sd, const std::string& tower_dir);

}  // namespace imp
