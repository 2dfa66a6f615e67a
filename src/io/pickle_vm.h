// The restricted pickle machine behind imp::pkl::parse (internal to src/io). It runs protocol 2-5
// pickles iteratively (no recursion over the input) into an arena of objects, resolves GLOBAL /
// STACK_GLOBAL only against an allowlist mirroring torch.load(weights_only=True) as far as state dicts
// need it, and calls back for persistent ids (torch's storages). Bounds: kMaxObjects objects, memo and
// stack sizes, strings and containers bounded by the input; every tensor view is checked against its
// storage when it is rebuilt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "imp/io/safetensors.h"

namespace imp::pkl {

enum class Kind : uint8_t { None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Set, Global, Storage, Tensor };

// The callables and classes a state-dict pickle may name; anything else is refused at GLOBAL time.
enum class Global : uint8_t {
  OrderedDict,
  RebuildTensorV2,       // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
  RebuildTensorV3,       // ... the same with a dtype after hooks (untyped storages, torch >= 2.1)
  RebuildParameter,      // torch._utils._rebuild_parameter(tensor, requires_grad, hooks)
  RebuildParameterWithState,
  RebuildFromTypeV2,     // torch._tensor._rebuild_from_type_v2(func, type, args, state)
  RestoreTypeTag,        // torch.jit._pickle.restore_type_tag(obj, type_str) -> obj: LibTorch's pickle_save
                         // (imp's own mm_projector.bin) tags dicts with it; weights_only refuses it
  TensorType,            // torch.Tensor
  ParameterType,         // torch.nn.parameter.Parameter
  StorageType,           // torch.FloatStorage, ..., torch.UntypedStorage: `dtype` says which
  DTypeValue,            // torch.float32, ...: `dtype`
};

struct Object {
  Kind kind = Kind::None;
  Global global = Global::OrderedDict;  // Kind::Global
  st::DType dtype = st::DType::U8;      // Kind::Global of StorageType / DTypeValue
  int64_t i = 0;                        // Bool/Int value; Storage: storage index; Tensor: tensor index
  double f = 0;
  std::string s;                        // Str (UTF-8), Bytes, BigInt (little-endian two's complement)
  std::vector<uint32_t> items;          // Tuple/List/Set elements; Dict: key, value, key, value, ...
};

struct StorageInfo {
  std::string key;
  st::DType dtype = st::DType::U8;
  uint64_t nbytes = 0;
};

struct TensorInfo {
  st::DType dtype = st::DType::U8;
  std::vector<int64_t> shape, stride;
  int64_t offset = 0;
  size_t storage = 0;
};

const char* kind_name(Kind k);

class Machine {
 public:
  // Returns the index into storages() of the storage a persistent id (object index) names.
  using PersistentLoad = std::function<size_t(Machine&, uint32_t pid)>;

  Machine(std::string origin, PersistentLoad persistent_load)
      : origin_(std::move(origin)), persistent_load_(std::move(persistent_load)) {}

  // Runs one pickle starting at bytes[pos] up to its STOP; returns the object it built and moves pos past
  // STOP. Each call has its own memo and stack; objects, storages and tensors accumulate.
  uint32_t load(const uint8_t* bytes, size_t size, size_t& pos);

  const Object& at(uint32_t i) const { return objects_[i]; }
  std::vector<StorageInfo>& storages() { return storages_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::string& origin() const { return origin_; }
  [[noreturn]] void fail(const std::string& problem) const;  // input error naming origin and the byte

 private:
  uint32_t make(Object o);
  uint32_t pop();
  std::vector<uint32_t> pop_mark();
  uint32_t& top();
  void push(uint32_t i);
  uint32_t resolve_global(const std::string& module, const std::string& name);
  uint32_t call(uint32_t func, uint32_t args);
  uint32_t rebuild_tensor(const std::vector<uint32_t>& args, bool v3);
  void build(uint32_t inst, uint32_t state);
  int64_t int_of(uint32_t i, const char* what) const;
  std::vector<int64_t> ints_of(uint32_t i, const char* what) const;

  std::string origin_;
  PersistentLoad persistent_load_;
  std::vector<Object> objects_;
  std::vector<StorageInfo> storages_;
  std::vector<TensorInfo> tensors_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  size_t op_pos_ = 0;  // byte offset of the opcode being run, for messages
};

}  // namespace imp::pkl
