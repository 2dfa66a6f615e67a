// What this imp binary was built with and what it finds at run time: LibTorch version and kind, CUDA /
// cuDNN / NCCL compiled in, Gloo, the CPU (model, SIMD level LibTorch dispatches to, AVX-512 / AMX) and the
// visible GPUs. Printed by `imp --version` and `imp inspect --env`.
#pragma once

#include <string>

namespace imp {

// Multi-line report, one "key: value" line each, starting with "imp <version>".
std::string build_info_report();

// CPU flags from /proc/cpuinfo: e.g. "avx512f avx512_bf16 amx_bf16" (the subset imp cares about, "" if none).
std::string cpu_feature_flags();

// The name of CUDA device `index` ("" in a CPU-only build).
std::string gpu_name(int index);
// Peak bytes the caching allocator handed out on CUDA device `index`, in MiB (-1 in a CPU-only build), as
// torch.cuda.max_memory_allocated.
double cuda_peak_allocated_mib(int index);
// Total memory of CUDA device `index` in bytes (0 in a CPU-only build).
double cuda_total_memory_bytes(int index);

}  // namespace imp
