// The IMP_FAULT parser (core/fault.h) the trainer's and the chat engine's test hooks share.
#include "imp/core/fault.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace imp {
namespace {

struct FaultEnv {
  explicit FaultEnv(const char* spec) { ::setenv("IMP_FAULT", spec, 1); }
  ~FaultEnv() { ::unsetenv("IMP_FAULT"); }
};

TEST(Fault, ArgumentOfTheNamedHook) {
  FaultEnv env("signal_at:4:1");
  EXPECT_EQ(fault_argument("signal_at"), "4:1");
  EXPECT_EQ(fault_argument("nan_grad"), "");
}

TEST(Fault, KindMustEndAtTheColon) {
  FaultEnv env("nan_grad_from:3");
  EXPECT_EQ(fault_argument("nan_grad_from"), "3");
  EXPECT_EQ(fault_argument("nan_grad"), "");  // a prefix of another hook's name does not arm it
  EXPECT_EQ(fault_argument("nan_grad_from:"), "");
}

TEST(Fault, OffWithoutArgumentOrVariable) {
  {
    FaultEnv env("sample_fail:");
    EXPECT_EQ(fault_argument("sample_fail"), "");
  }
  {
    FaultEnv env("sample_fail");
    EXPECT_EQ(fault_argument("sample_fail"), "");
  }
  EXPECT_EQ(fault_argument("sample_fail"), "");  // unset
}

TEST(Fault, ArgumentKeepsItsColons) {
  FaultEnv env("ckpt_write:optimizer.safetensors:100");
  EXPECT_EQ(fault_argument("ckpt_write"), "optimizer.safetensors:100");
}

}  // namespace
}  // namespace imp
