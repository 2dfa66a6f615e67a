// Learning-rate schedules with transformers' formulas (optimization.py get_*_schedule_with_warmup):
// the factor multiplied into every parameter group's own base learning rate. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace imp::train {

// step = number of optimizer steps already taken (HF's LambdaLR argument: 0 for the first step).
// type: linear | cosine | constant | constant_with_warmup.
double lr_factor(const std::string& type, int64_t step, int64_t warmup_steps, int64_t total_steps);

// HF TrainingArguments.get_warmup_steps: warmup_steps if > 0, else ceil(warmup_ratio * total).
int64_t warmup_steps_for(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace imp::train
