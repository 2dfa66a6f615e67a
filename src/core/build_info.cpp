// `imp --version` / `imp inspect --env`: the build and the machine (include/imp/core/build_info.h).
#include "imp/core/build_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>

#include <fstream>
#include <set>
#include <sstream>

#ifdef IMP_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "imp/core/compat.h"
#include "imp/dist/process_group.h"

#ifndef IMP_VERSION
#define IMP_VERSION "0.0.0"
#endif
#ifndef IMP_TORCH_KIND
#define IMP_TORCH_KIND "unknown"
#endif

namespace imp {
namespace {

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

// "CPU capability usage: AVX512" from LibTorch's build summary: the SIMD level its kernels dispatch to.
std::string torch_cpu_capability() {
  std::istringstream config(at::show_config());
  std::string line;
  const std::string key = "CPU capability usage:";
  while (std::getline(config, line)) {
    const auto at = line.find(key);
    if (at != std::string::npos) {
      const auto start = line.find_first_not_of(' ', at + key.size());
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "unknown";
}

std::string cuda_report() {
#ifdef IMP_WITH_CUDA
  std::ostringstream s;
  s << "CUDA " << CUDART_VERSION / 1000 << "." << (CUDART_VERSION % 1000) / 10 << " (toolkit at build time)";
  const long cudnn = at::detail::getCUDAHooks().versionCuDNN();
  if (cudnn > 0) s << ", cuDNN " << cudnn / 10000 << "." << (cudnn % 10000) / 100 << "." << cudnn % 100;
  return s.str();
#else
  return "no (CPU-only LibTorch)";
#endif
}

std::string gpu_report() {
  const int n = static_cast<int>(torch::cuda::device_count());
  if (n == 0) return "none visible";
  std::ostringstream s;
  s << n;
#ifdef IMP_WITH_CUDA
  for (int i = 0; i < n; ++i) {
    const auto* p = at::cuda::getDeviceProperties(i);
    s << "\n  cuda:" << i << " " << p->name << ", " << (p->totalGlobalMem >> 20) << " MiB, sm_" << p->major
      << p->minor;
  }
#endif
  return s.str();
}

}  // namespace

std::string gpu_name(int index) {
#ifdef IMP_WITH_CUDA
  return at::cuda::getDeviceProperties(index)->name;
#else
  (void)index;
  return "";
#endif
}

double cuda_peak_allocated_mib(int index) {
#ifdef IMP_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1 << 20);  // [0]: StatType::AGGREGATE
#else
  (void)index;
  return -1;
#endif
}

double cuda_total_memory_bytes(int index) {
#ifdef IMP_WITH_CUDA
  return static_cast<double>(at::cuda::getDeviceProperties(index)->totalGlobalMem);
#else
  (void)index;
  return 0;
#endif
}

std::string cpu_feature_flags() {
  std::istringstream flags(cpuinfo_field("flags"));
  const std::set<std::string> wanted = {"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
                                        "amx_tile"};
  std::string out, flag;
  while (flags >> flag)
    if (wanted.count(flag)) out += (out.empty() ? "" : " ") + flag;
  return out;
}

std::string build_info_report() {
  const std::string flags = cpu_feature_flags();
  const bool amx = flags.find("amx_bf16") != std::string::npos;
  std::ostringstream s;
  s << "imp " << IMP_VERSION << "\n"
    << "LibTorch: " << compat::torch_version() << " (" << IMP_TORCH_KIND << "), C++" << __cplusplus / 100 % 100 << "\n"
    << "CUDA: " << cuda_report() << "\n"
    << "c10d backends: " << dist::compiled_backends() << "\n"
    << "CPU: " << cpuinfo_field("model name") << ", " << at::get_num_threads() << " intra-op threads\n"
    << "CPU kernels: " << torch_cpu_capability() << " (flags: " << (flags.empty() ? "-" : flags)
    << "; AMX " << (amx ? "yes" : "no") << ", oneDNN " << (at::hasMKLDNN() ? "yes" : "no") << ")\n"
    << "GPUs: " << gpu_report() << "\n";
  return s.str();
}

}  // namespace imp
