// c10d differences between LibTorch 1.13 (Debian) and 2.x, for src/dist/process_group.cpp only. It pulls in
// c10d and the Gloo / NCCL backends that the build found headers for (IMP_DIST_GLOO / IMP_DIST_NCCL, set by
// src/dist/sources.cmake; the backend headers are guarded by USE_C10D_GLOO / USE_C10D_NCCL).
//  * 1.13: ProcessGroupGloo / ProcessGroupNCCL derive from c10d::ProcessGroup and are used directly.
//  * 2.x:  they derive from c10d::Backend (a ProcessGroup wraps backends); calling the backend's
//          allreduce/broadcast directly is the same call with the same options structs.
//  * NCCL env names: 1.13 reads NCCL_ASYNC_ERROR_HANDLING / NCCL_BLOCKING_WAIT / NCCL_DESYNC_DEBUG, 2.x the
//    TORCH_-prefixed names. imp accepts both spellings (copies the one set to the one this LibTorch reads).
#pragma once

#include <torch/version.h>

#include <cstdlib>
#include <string>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#ifdef IMP_DIST_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef IMP_DIST_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace imp::dist::compat {

#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

// Makes the NCCL settings the user gave under either spelling visible under the one this LibTorch reads;
// without any, asks 1.13 to tear down on errors as torchrun does (2.x defaults to that already).
inline void apply_nccl_env_spellings() {
  static const char* const kNames[] = {"ASYNC_ERROR_HANDLING", "BLOCKING_WAIT", "DESYNC_DEBUG"};
  for (const char* name : kNames) {
    const std::string legacy = std::string("NCCL_") + name, current = std::string("TORCH_NCCL_") + name;
    const std::string& read = TORCH_VERSION_MAJOR >= 2 ? current : legacy;
    const std::string& other = TORCH_VERSION_MAJOR >= 2 ? legacy : current;
    const char* v = std::getenv(other.c_str());
    if (!std::getenv(read.c_str()) && v) setenv(read.c_str(), v, 0);
  }
  if (TORCH_VERSION_MAJOR < 2 && !std::getenv("NCCL_ASYNC_ERROR_HANDLING")) setenv("NCCL_ASYNC_ERROR_HANDLING", "1", 0);
}

}  // namespace imp::dist::compat
