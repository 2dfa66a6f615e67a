// libFuzzer target for imp::pkl::parse (torch.save zip and legacy formats, the restricted unpickler).
// A sanitizer report, any exception other than imp::Error, or an accepted checkpoint whose tensors do
// not fit their storages is a crash; accepted tensors are copied out with read_tensor so that ASan sees
// every byte read. Built and run by tests/fuzz/run_fuzzers.sh.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "imp/core/error.h"
#include "imp/io/torch_pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const imp::pkl::Checkpoint c = imp::pkl::parse(data, size, "fuzz.pt");
    for (const auto& t : c.tensors) {
      if (t.storage >= c.storages.size() || t.shape.size() != t.stride.size()) std::abort();
      const imp::pkl::Storage& s = c.storages[t.storage];
      if (s.nbytes && (s.data < data || s.data + s.nbytes > data + size)) std::abort();
      if (t.nbytes() > (uint64_t{16} << 20)) continue;  // a legal stride-0 expansion; too big to copy here
      std::vector<uint8_t> out(t.nbytes());
      imp::pkl::read_tensor(c, t, out.data());
    }
  } catch (const imp::Error&) {
  }
  return 0;
}
