// Fault injection for tests (reliability.md): IMP_FAULT=<kind>:<argument> arms one hook, read where the
// fault would happen (trainer: nan_grad, inf_grad, nan_grad_from, signal_at, ckpt_write; chat engine:
// sample_fail). Torch-free.
#pragma once

#include <string>
#include <string_view>

namespace imp {

// The argument IMP_FAULT gives hook `kind` ("signal_at" with IMP_FAULT=signal_at:4:1 -> "4:1"), or "" when
// IMP_FAULT is unset, names another hook or gives no argument (the hook stays off).
std::string fault_argument(std::string_view kind);

}  // namespace imp
