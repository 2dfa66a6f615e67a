// The restricted pickle machine; see pickle_vm.h. Opcode semantics follow CPython's Lib/pickle.py
// (_Unpickler) and the allowlist torch/_weights_only_unpickler.py.
#include "pickle_vm.h"

#include <cstring>
#include <utility>

#include "imp/core/error.h"
#include "little_endian.h"

namespace imp::pkl {
namespace {

constexpr size_t kMaxObjects = size_t{1} << 22;
constexpr size_t kMaxMemo = size_t{1} << 22;
constexpr size_t kMaxStack = size_t{1} << 20;
constexpr size_t kMaxMarks = size_t{1} << 16;
constexpr size_t kMaxLine = 1024;  // GLOBAL's module and name lines
constexpr size_t kMaxDims = 64;
constexpr size_t kMaxLongBytes = 64;  // LONG1/LONG4 payloads (torch's magic number is 10 bytes)

struct StorageName {
  const char* name;
  st::DType dtype;
};
constexpr StorageName kStorages[] = {
    {"FloatStorage", st::DType::F32},  {"DoubleStorage", st::DType::F64}, {"HalfStorage", st::DType::F16},
    {"BFloat16Storage", st::DType::BF16}, {"LongStorage", st::DType::I64}, {"IntStorage", st::DType::I32},
    {"ShortStorage", st::DType::I16},  {"CharStorage", st::DType::I8},    {"ByteStorage", st::DType::U8},
    {"BoolStorage", st::DType::BOOL},  {"UntypedStorage", st::DType::U8},
};
constexpr StorageName kDTypeNames[] = {
    {"float32", st::DType::F32},  {"float", st::DType::F32},   {"float64", st::DType::F64},
    {"double", st::DType::F64},   {"float16", st::DType::F16}, {"half", st::DType::F16},
    {"bfloat16", st::DType::BF16}, {"int64", st::DType::I64},  {"long", st::DType::I64},
    {"int32", st::DType::I32},    {"int", st::DType::I32},     {"int16", st::DType::I16},
    {"short", st::DType::I16},    {"int8", st::DType::I8},     {"uint8", st::DType::U8},
    {"bool", st::DType::BOOL},    {"float8_e4m3fn", st::DType::F8_E4M3}, {"float8_e5m2", st::DType::F8_E5M2},
};

Object object_of(Kind kind) {
  Object o;
  o.kind = kind;
  return o;
}


}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "big int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "class or function";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

void Machine::fail(const std::string& problem) const {
  throw Error(str(origin_, ": ", problem, " (pickle byte ", op_pos_,
                  "); the file is corrupt or not a torch.save checkpoint of tensors (re-download or re-save it)"),
              ErrorKind::input);
}

uint32_t Machine::make(Object o) {
  if (objects_.size() >= kMaxObjects) fail(str("more than ", kMaxObjects, " pickled objects"));
  objects_.push_back(std::move(o));
  return static_cast<uint32_t>(objects_.size() - 1);
}

void Machine::push(uint32_t i) {
  if (stack_.size() >= kMaxStack) fail(str("the pickle stack grows past ", kMaxStack, " entries"));
  stack_.push_back(i);
}

uint32_t Machine::pop() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pop from an empty pickle stack");
  const uint32_t i = stack_.back();
  stack_.pop_back();
  return i;
}

uint32_t& Machine::top() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("the pickle stack is empty");
  return stack_.back();
}

std::vector<uint32_t> Machine::pop_mark() {
  if (marks_.empty()) fail("no MARK on the pickle stack");
  const size_t m = marks_.back();
  marks_.pop_back();
  std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
  stack_.resize(m);
  return items;
}

uint32_t Machine::resolve_global(const std::string& module, const std::string& name) {
  Object g;
  g.kind = Kind::Global;
  const std::string full = module + "." + name;
  bool found = true;
  if (full == "collections.OrderedDict") {
    g.global = Global::OrderedDict;
  } else if (full == "torch._utils._rebuild_tensor_v2") {
    g.global = Global::RebuildTensorV2;
  } else if (full == "torch._utils._rebuild_tensor_v3") {
    g.global = Global::RebuildTensorV3;
  } else if (full == "torch._utils._rebuild_parameter") {
    g.global = Global::RebuildParameter;
  } else if (full == "torch._utils._rebuild_parameter_with_state") {
    g.global = Global::RebuildParameterWithState;
  } else if (full == "torch._tensor._rebuild_from_type_v2") {
    g.global = Global::RebuildFromTypeV2;
  } else if (full == "torch.jit._pickle.restore_type_tag") {
    g.global = Global::RestoreTypeTag;
  } else if (full == "torch.Tensor") {
    g.global = Global::TensorType;
  } else if (full == "torch.nn.parameter.Parameter") {
    g.global = Global::ParameterType;
  } else {
    found = false;
    // torch.FloatStorage (torch.cuda.FloatStorage in old GPU saves; torch.storage.UntypedStorage).
    if (module == "torch" || module == "torch.cuda" || module == "torch.storage") {
      for (const auto& s : kStorages)
        if (name == s.name) g.global = Global::StorageType, g.dtype = s.dtype, found = true;
    }
    if (module == "torch") {
      for (const auto& d : kDTypeNames)
        if (name == d.name) g.global = Global::DTypeValue, g.dtype = d.dtype, found = true;
    }
  }
  if (!found)
    throw Error(str(origin_, ": refuses the pickle global ", quote(full), " (pickle byte ", op_pos_,
                    "): imp reads only tensors and plain containers from torch.save files, as "
                    "torch.load(weights_only=True) does; other globals can run arbitrary code when loaded",
                    "\nhint: if you trust the file, convert it once in Python: "
                    "safetensors.torch.save_file(torch.load(path), 'model.safetensors')"),
                ErrorKind::input);
  return make(std::move(g));
}

int64_t Machine::int_of(uint32_t i, const char* what) const {
  const Object& o = objects_[i];
  if (o.kind != Kind::Int) fail(str(what, " is a ", kind_name(o.kind), ", not an int"));
  return o.i;
}

std::vector<int64_t> Machine::ints_of(uint32_t i, const char* what) const {
  const Object& o = objects_[i];
  if (o.kind != Kind::Tuple && o.kind != Kind::List) fail(str(what, " is a ", kind_name(o.kind), ", not a tuple"));
  if (o.items.size() > kMaxDims) fail(str(what, " has more than ", kMaxDims, " dimensions"));
  std::vector<int64_t> out;
  for (uint32_t item : o.items) {
    const int64_t v = int_of(item, what);
    if (v < 0) fail(str(what, " has the negative entry ", v));
    out.push_back(v);
  }
  return out;
}

uint32_t Machine::rebuild_tensor(const std::vector<uint32_t>& a, bool v3) {
  const size_t need = v3 ? 7 : 6;
  if (a.size() != need && a.size() != need + 1)
    fail(str(v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2", " takes ", need, " or ", need + 1, " arguments, got ",
             a.size()));
  const Object& so = objects_[a[0]];
  if (so.kind != Kind::Storage) fail(str("a tensor's storage is a ", kind_name(so.kind)));
  TensorInfo t;
  t.storage = static_cast<size_t>(so.i);
  const StorageInfo& s = storages_[t.storage];
  t.dtype = s.dtype;
  if (v3) {
    const Object& d = objects_[a[6]];
    if (d.kind != Kind::Global || d.global != Global::DTypeValue) fail("_rebuild_tensor_v3's dtype is not a torch dtype");
    t.dtype = d.dtype;
  }
  t.offset = int_of(a[1], "a tensor's storage offset");
  if (t.offset < 0) fail(str("a tensor has the negative storage offset ", t.offset));
  t.shape = ints_of(a[2], "a tensor's size");
  t.stride = ints_of(a[3], "a tensor's stride");
  if (t.shape.size() != t.stride.size())
    fail(str("a tensor has ", t.shape.size(), " sizes but ", t.stride.size(), " strides"));
  // Elements the view reaches: offset + sum((size - 1) * stride) + 1, unless it is empty.
  uint64_t numel = 1, last = static_cast<uint64_t>(t.offset);
  for (size_t d = 0; d < t.shape.size(); ++d) {
    const auto n = static_cast<uint64_t>(t.shape[d]), st = static_cast<uint64_t>(t.stride[d]);
    uint64_t step = 0;
    if (__builtin_mul_overflow(numel, n, &numel) || (n > 0 && __builtin_mul_overflow(n - 1, st, &step)) ||
        __builtin_add_overflow(last, step, &last) || numel > (uint64_t{1} << 58))  // so numel * dtype size fits too
      fail("a tensor's size and stride overflow 64 bits");
  }
  const uint64_t esize = st::dtype_size(t.dtype);
  uint64_t end = numel > 0 ? last + 1 : static_cast<uint64_t>(t.offset);  // last < 2^64 - 1: checked below
  if (last == ~uint64_t{0} || __builtin_mul_overflow(end, esize, &end) || end > s.nbytes)
    fail(str("a tensor view (", st::dtype_name(t.dtype), ", offset ", t.offset, ", ", t.shape.size(),
             " dims) reaches past the end of storage ", quote(s.key), " (", s.nbytes, " bytes)"));
  tensors_.push_back(std::move(t));
  Object o;
  o.kind = Kind::Tensor;
  o.i = static_cast<int64_t>(tensors_.size() - 1);
  return make(std::move(o));
}

uint32_t Machine::call(uint32_t func, uint32_t args) {
  const Object& f = objects_[func];
  if (f.kind != Kind::Global) fail(str("REDUCE calls a ", kind_name(f.kind)));
  if (objects_[args].kind != Kind::Tuple) fail("REDUCE's arguments are not a tuple");
  const std::vector<uint32_t> a = objects_[args].items;
  auto tensor_arg = [&](size_t n, const char* fn) {
    if (a.size() != n || objects_[a[0]].kind != Kind::Tensor) fail(str(fn, " expects a tensor and ", n - 1, " more arguments"));
    return a[0];
  };
  switch (f.global) {
    case Global::OrderedDict:
      if (!a.empty()) fail("OrderedDict is called with arguments");
      return make(object_of(Kind::Dict));
    case Global::RebuildTensorV2: return rebuild_tensor(a, false);
    case Global::RebuildTensorV3: return rebuild_tensor(a, true);
    case Global::RebuildParameter: return tensor_arg(3, "_rebuild_parameter");
    case Global::RebuildParameterWithState: return tensor_arg(4, "_rebuild_parameter_with_state");
    case Global::RebuildFromTypeV2: {
      if (a.size() != 4) fail("_rebuild_from_type_v2 expects 4 arguments");
      const Object& fn = objects_[a[0]];
      const Object& type = objects_[a[1]];
      if (fn.kind != Kind::Global || (fn.global != Global::RebuildTensorV2 && fn.global != Global::RebuildTensorV3) ||
          type.kind != Kind::Global || (type.global != Global::TensorType && type.global != Global::ParameterType))
        fail("_rebuild_from_type_v2 rebuilds something other than a tensor or parameter");
      return call(a[0], a[2]);  // the state (tensor attributes) is dropped, as for a state dict
    }
    case Global::RestoreTypeTag:
      if (a.size() != 2 || objects_[a[1]].kind != Kind::Str) fail("restore_type_tag expects an object and a type name");
      return a[0];
    default: fail("REDUCE calls a torch class or dtype, which only tensor rebuilds may name");
  }
}

void Machine::build(uint32_t inst, uint32_t state) {
  const Kind k = objects_[inst].kind, sk = objects_[state].kind;
  // OrderedDict attributes (a state dict's _metadata) and tensor attribute dicts are not needed.
  if (k == Kind::Dict || (k == Kind::Tensor && (sk == Kind::Dict || sk == Kind::None))) return;
  fail(str("BUILD sets the state of a ", kind_name(k), " from a ", kind_name(sk)));
}

uint32_t Machine::load(const uint8_t* b, size_t size, size_t& pos) {
  stack_.clear();
  marks_.clear();
  memo_.clear();
  auto need = [&](uint64_t n) {
    if (n > size - pos) fail(str("the pickle is truncated (", n, " more bytes needed, ", size - pos, " left)"));
  };
  auto take = [&](int n) {
    need(static_cast<uint64_t>(n));
    const uint64_t v = load_le(b + pos, n);
    pos += static_cast<size_t>(n);
    return v;
  };
  auto line = [&]() {
    const size_t start = pos;
    while (pos < size && b[pos] != '\n' && pos - start < kMaxLine) ++pos;
    if (pos >= size || b[pos] != '\n') fail("a GLOBAL line is unterminated or too long");
    return std::string(reinterpret_cast<const char*>(b + start), pos++ - start);
  };
  auto text = [&](Kind kind, uint64_t n) {
    need(n);
    Object o;
    o.kind = kind;
    o.s.assign(reinterpret_cast<const char*>(b + pos), static_cast<size_t>(n));
    pos += static_cast<size_t>(n);
    push(make(std::move(o)));
  };
  auto integer = [&](int64_t v) {
    Object o;
    o.kind = Kind::Int;
    o.i = v;
    push(make(std::move(o)));
  };
  auto long_int = [&](uint64_t n) {  // little-endian two's complement of n bytes
    if (n > kMaxLongBytes) fail(str("a ", n, "-byte integer is too long"));
    need(n);
    if (n <= 8) {
      uint64_t v = n ? load_le(b + pos, static_cast<int>(n)) : 0;
      if (n > 0 && n < 8 && (b[pos + n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      pos += static_cast<size_t>(n);
      integer(static_cast<int64_t>(v));
    } else {
      text(Kind::BigInt, n);
    }
  };
  auto memo_put = [&](uint64_t key) {
    if (memo_.size() >= kMaxMemo && !memo_.count(key)) fail(str("the pickle memo grows past ", kMaxMemo, " entries"));
    memo_[key] = top();
  };
  auto memo_get = [&](uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail(str("memo entry ", key, " is read before it is written"));
    push(it->second);
  };
  auto container = [&](Kind kind, std::vector<uint32_t> items) {
    Object o;
    o.kind = kind;
    o.items = std::move(items);
    push(make(std::move(o)));
  };
  auto add_items = [&](uint32_t target, Kind kind, const std::vector<uint32_t>& items) {
    Object& t = objects_[target];
    if (t.kind != kind)
      fail(str(kind == Kind::Dict ? "SETITEM" : kind == Kind::List ? "APPEND" : "ADDITEMS", " on a ",
               kind_name(t.kind)));
    if (kind == Kind::Dict && items.size() % 2) fail("SETITEMS has a key without a value");
    t.items.insert(t.items.end(), items.begin(), items.end());
  };

  while (true) {
    op_pos_ = pos;
    need(1);
    const uint8_t op = b[pos++];
    switch (op) {
      case 0x80: {  // PROTO
        const uint64_t v = take(1);
        if (v < 2 || v > 5) fail(str("pickle protocol ", v, " is not supported (torch.save writes 2 to 5)"));
        break;
      }
      case 0x95: take(8); break;  // FRAME: a hint only
      case '.': return pop();     // STOP (like CPython, anything left below is ignored)
      case '(':  // MARK
        if (marks_.size() >= kMaxMarks) fail("too many nested MARKs");
        marks_.push_back(stack_.size());
        break;
      case '0': pop(); break;                                     // POP
      case '1': pop_mark(); break;                                // POP_MARK
      case '2': push(top()); break;                               // DUP
      case 'N': push(make(object_of(Kind::None))); break;            // NONE
      case 0x88: case 0x89: {                                     // NEWTRUE, NEWFALSE
        Object o = object_of(Kind::Bool);
        o.i = op == 0x88;
        push(make(std::move(o)));
        break;
      }
      case 'J': integer(static_cast<int32_t>(static_cast<uint32_t>(take(4)))); break;  // BININT
      case 'K': integer(static_cast<int64_t>(take(1))); break;                          // BININT1
      case 'M': integer(static_cast<int64_t>(take(2))); break;                          // BININT2
      case 0x8a: long_int(take(1)); break;                                              // LONG1
      case 0x8b: {                                                                      // LONG4
        const auto n = static_cast<int32_t>(static_cast<uint32_t>(take(4)));
        if (n < 0) fail("LONG4 has a negative length");
        long_int(static_cast<uint64_t>(n));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        need(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[pos + i];
        pos += 8;
        Object o = object_of(Kind::Float);
        std::memcpy(&o.f, &bits, 8);
        push(make(std::move(o)));
        break;
      }
      case 'X': text(Kind::Str, take(4)); break;      // BINUNICODE
      case 0x8c: text(Kind::Str, take(1)); break;     // SHORT_BINUNICODE
      case 0x8d: text(Kind::Str, take(8)); break;     // BINUNICODE8
      case 'T': text(Kind::Str, take(4)); break;      // BINSTRING (Python 2 str, read as text like torch does)
      case 'U': text(Kind::Str, take(1)); break;      // SHORT_BINSTRING
      case 'B': text(Kind::Bytes, take(4)); break;    // BINBYTES
      case 'C': text(Kind::Bytes, take(1)); break;    // SHORT_BINBYTES
      case 0x8e: case 0x96: text(Kind::Bytes, take(8)); break;  // BINBYTES8, BYTEARRAY8
      case ')': container(Kind::Tuple, {}); break;    // EMPTY_TUPLE
      case ']': container(Kind::List, {}); break;     // EMPTY_LIST
      case '}': container(Kind::Dict, {}); break;     // EMPTY_DICT
      case 0x8f: container(Kind::Set, {}); break;     // EMPTY_SET
      case 't': container(Kind::Tuple, pop_mark()); break;  // TUPLE
      case 'l': container(Kind::List, pop_mark()); break;   // LIST
      case 0x91: container(Kind::Set, pop_mark()); break;   // FROZENSET
      case 'd': {                                            // DICT
        auto items = pop_mark();
        if (items.size() % 2) fail("DICT has a key without a value");
        container(Kind::Dict, std::move(items));
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        std::vector<uint32_t> items(static_cast<size_t>(op - 0x84));
        for (size_t i = items.size(); i-- > 0;) items[i] = pop();
        container(Kind::Tuple, std::move(items));
        break;
      }
      case 'a': {  // APPEND
        const uint32_t v = pop();
        add_items(top(), Kind::List, {v});
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        add_items(top(), Kind::List, items);
        break;
      }
      case 0x90: {  // ADDITEMS
        auto items = pop_mark();
        add_items(top(), Kind::Set, items);
        break;
      }
      case 's': {  // SETITEM
        const uint32_t v = pop(), k = pop();
        add_items(top(), Kind::Dict, {k, v});
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        add_items(top(), Kind::Dict, items);
        break;
      }
      case 'q': memo_put(take(1)); break;             // BINPUT
      case 'r': memo_put(take(4)); break;             // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;       // MEMOIZE
      case 'h': memo_get(take(1)); break;             // BINGET
      case 'j': memo_get(take(4)); break;             // LONG_BINGET
      case 'c': {                                     // GLOBAL
        const std::string module = line();
        const std::string name = line();
        push(resolve_global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const uint32_t name = pop(), module = pop();
        if (objects_[name].kind != Kind::Str || objects_[module].kind != Kind::Str)
          fail("STACK_GLOBAL names are not strings");
        push(resolve_global(objects_[module].s, objects_[name].s));
        break;
      }
      case 'Q': {  // BINPERSID
        const uint32_t pid = pop();
        Object o = object_of(Kind::Storage);
        o.i = static_cast<int64_t>(persistent_load_(*this, pid));
        push(make(std::move(o)));
        break;
      }
      case 'R': {  // REDUCE
        const uint32_t args = pop();
        const uint32_t result = call(top(), args);
        top() = result;
        break;
      }
      case 0x81: {  // NEWOBJ: only Parameter(tensor[, requires_grad]), as weights_only allows
        const uint32_t args = pop(), cls = pop();
        const Object& c = objects_[cls];
        const Object& a = objects_[args];
        if (c.kind != Kind::Global || c.global != Global::ParameterType || a.kind != Kind::Tuple || a.items.empty() ||
            objects_[a.items[0]].kind != Kind::Tensor)
          fail("NEWOBJ builds something other than a Parameter from a tensor");
        push(a.items[0]);
        break;
      }
      case 'b': {  // BUILD
        const uint32_t state = pop();
        build(top(), state);
        break;
      }
      default:
        fail(str("pickle opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                 " is not supported (only the binary opcodes torch.save writes are read)"));
    }
  }
}

}  // namespace imp::pkl
