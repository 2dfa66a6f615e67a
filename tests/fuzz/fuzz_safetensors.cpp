// libFuzzer target (SEC-2) for imp::st::parse and imp::st::parse_index: every input goes through
// both. A sanitizer report, any exception other than imp::Error, or an accepted file that breaks
// parse()'s guarantees (contiguous offsets from 0, sizes = numel × dtype size, no trailing bytes)
// is a crash. Built and run by tests/fuzz/run_fuzzers.sh.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "imp/core/error.h"
#include "imp/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const imp::st::Header h = imp::st::parse(data, size, "fuzz.safetensors");
    uint64_t expected = 0;
    for (const auto& t : h.tensors) {
      if (t.begin != expected || t.nbytes() != static_cast<uint64_t>(t.numel()) * imp::st::dtype_size(t.dtype))
        std::abort();
      expected = t.end;
    }
    if (h.data_start + expected != size) std::abort();
  } catch (const imp::Error&) {
  }
  try {
    imp::st::parse_index(std::string(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
  } catch (const imp::Error&) {
  }
  return 0;
}
