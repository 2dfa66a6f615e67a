// torch.save's two container formats around the restricted pickle machine; see torch_pickle.h.
//   zip (torch/serialization.py _save): <archive>/data.pkl with persistent ids
//     ('storage', torch.XStorage, key, location, numel) and each storage in <archive>/data/<key>,
//     optional <archive>/byteorder ("little" / "big").
//   legacy (_legacy_save): pickles of the magic number, the protocol version 1001 and sys_info, then the
//     data pickle (persistent ids ('storage', type, root_key, location, numel, view_metadata)), then a
//     pickled list of root keys, then for each key an int64 element count and the little-endian bytes.
#include "imp/io/torch_pickle.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

#include "imp/core/error.h"
#include "little_endian.h"
#include "pickle_vm.h"
#include "zip_reader.h"

namespace imp::pkl {
namespace {

const char* const kHint = "; the file is corrupt or not a torch.save checkpoint (re-download or re-save it)";
// Stride-0 (expanded) views hold more elements than their storage; read_tensor materialises them, so their
// extra bytes over the whole checkpoint are capped (a 10-byte file must not ask for terabytes).
constexpr uint64_t kMaxExpandedBytes = uint64_t{1} << 30;
const uint8_t kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};  // 0x1950a86a20f9469cfc6c
constexpr int64_t kLegacyProtocol = 1001;

[[noreturn]] void bad(const std::string& origin, const std::string& problem, const char* hint = kHint) {
  throw Error(origin + ": " + problem + hint, ErrorKind::input);
}

bool is_str(const Object& o, const char* s) { return o.kind == Kind::Str && o.s == s; }

// The storage a persistent id names: (dtype, key, element count) checked, bytes = count * dtype size.
StorageInfo storage_of(Machine& m, const Object& pid, size_t arity) {
  if (pid.kind != Kind::Tuple || pid.items.empty()) m.fail("a persistent id is not a tuple");
  const Object& tag = m.at(pid.items[0]);
  if (is_str(tag, "module"))
    m.fail("the file pickles a whole nn.Module (torch.save(model)), not a state dict; re-save it with "
           "torch.save(model.state_dict(), path)");
  if (!is_str(tag, "storage") || pid.items.size() != arity) m.fail("a persistent id is not a ('storage', ...) tuple");
  const Object& type = m.at(pid.items[1]);
  const Object& key = m.at(pid.items[2]);
  const Object& numel = m.at(pid.items[4]);
  if (type.kind != Kind::Global || type.global != Global::StorageType) m.fail("a storage's type is not a torch storage class");
  if (key.kind != Kind::Str || numel.kind != Kind::Int || numel.i < 0) m.fail("a storage's key or size is malformed");
  StorageInfo s{key.s, type.dtype, 0};
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel.i), st::dtype_size(s.dtype), &s.nbytes))
    m.fail("a storage's size overflows 64 bits");
  return s;
}

// Adds s to the machine's storages unless its key is known (then it must agree); returns its index.
size_t intern(Machine& m, std::unordered_map<std::string, size_t>& by_key, const StorageInfo& s) {
  const auto it = by_key.find(s.key);
  if (it != by_key.end()) {
    const StorageInfo& old = m.storages()[it->second];
    if (old.dtype != s.dtype || old.nbytes != s.nbytes)
      m.fail("storage " + quote(s.key) + " is named twice with different types or sizes");
    return it->second;
  }
  m.storages().push_back(s);
  by_key.emplace(s.key, m.storages().size() - 1);
  return m.storages().size() - 1;
}

// The state dict the data pickle built: a dict of str -> tensor.
Checkpoint extract(Machine& m, uint32_t top, const std::string& origin) {
  const Object& d = m.at(top);
  if (d.kind != Kind::Dict)
    bad(origin, std::string("holds a ") + kind_name(d.kind) + ", not a state dict (a dict of name -> tensor)",
        "\nhint: imp reads torch.save(model.state_dict(), path) files and the like");
  Checkpoint c;
  std::unordered_map<std::string, size_t> index;
  uint64_t expanded = 0;
  for (size_t i = 0; i + 1 < d.items.size(); i += 2) {
    const Object& k = m.at(d.items[i]);
    const Object& v = m.at(d.items[i + 1]);
    if (k.kind != Kind::Str) bad(origin, std::string("has a ") + kind_name(k.kind) + " key; state-dict keys are strings");
    if (v.kind != Kind::Tensor)
      bad(origin, "entry " + quote(k.s) + " is a " + kind_name(v.kind) + ", not a tensor",
          "\nhint: imp reads flat state dicts (name -> tensor); re-save only the tensors, e.g. "
          "torch.save({k: v for k, v in d.items() if torch.is_tensor(v)}, path)");
    const TensorInfo& t = m.tensors()[static_cast<size_t>(v.i)];
    TensorRecord r{k.s, t.dtype, t.shape, t.stride, t.offset, t.storage};
    const uint64_t held = m.storages()[t.storage].nbytes, need = r.nbytes();
    if (need > held && (expanded += need - held) > kMaxExpandedBytes)
      bad(origin, "tensor " + quote(k.s) + " and others expand small storages (stride 0) to over " +
                      std::to_string(kMaxExpandedBytes) + " bytes more than the file holds",
          "\nhint: save the tensors contiguous (t.contiguous()) or as safetensors");
    const auto [it, fresh] = index.emplace(k.s, c.tensors.size());
    if (fresh) {
      c.tensors.push_back(std::move(r));
    } else {
      c.tensors[it->second] = std::move(r);  // Python's dict keeps the last value
    }
  }
  return c;
}

Checkpoint parse_zip(const uint8_t* b, size_t size, const std::string& origin) {
  const std::vector<zip::Entry> entries = zip::read_entries(b, size, origin);
  if (entries.empty() || entries[0].name.find('/') == std::string::npos)
    bad(origin, "is a zip archive without torch.save's '<name>/data.pkl' layout");
  // PyTorchStreamReader: the archive name is the first entry's top directory.
  const std::string prefix = entries[0].name.substr(0, entries[0].name.find('/') + 1);
  std::map<std::string, const zip::Entry*> by_name;
  for (const auto& e : entries) by_name.emplace(e.name, &e);
  auto record = [&](const std::string& name) -> const zip::Entry* {
    const auto it = by_name.find(prefix + name);
    if (it == by_name.end()) return nullptr;
    const zip::Entry& e = *it->second;
    if (e.method != 0 || e.size != e.raw_size)
      bad(origin, "record " + quote(e.name) + " is compressed (zip method " + std::to_string(e.method) +
                      "); torch.save never compresses, so the archive was repacked",
          "\nhint: re-save it with torch.save, or repack it uncompressed (zip -0)");
    return &e;
  };

  Checkpoint c;
  if (const zip::Entry* e = record("byteorder")) {
    const std::string order(reinterpret_cast<const char*>(b + e->offset), static_cast<size_t>(e->size));
    if (order != "little" && order != "big") bad(origin, "the byteorder record is neither 'little' nor 'big'");
    c.big_endian = order == "big";
  }
  const zip::Entry* data_pkl = record("data.pkl");
  if (!data_pkl)
    bad(origin, "has no " + quote(prefix + "data.pkl") + " (a TorchScript archive or another zip, not a torch.save file)",
        "\nhint: save the weights with torch.save(model.state_dict(), path) or as safetensors");

  std::unordered_map<std::string, size_t> by_key;
  std::vector<const uint8_t*> data;
  Machine m(origin, [&](Machine& vm, uint32_t pid) {
    const StorageInfo s = storage_of(vm, vm.at(pid), 5);
    const size_t before = vm.storages().size(), i = intern(vm, by_key, s);
    if (vm.storages().size() == before) return i;
    const zip::Entry* e = record("data/" + s.key);
    if (!e) vm.fail("the record of storage " + quote(s.key) + " is missing");
    if (e->size < s.nbytes)
      vm.fail("the record of storage " + quote(s.key) + " has " + std::to_string(e->size) + " bytes, " +
              std::to_string(s.nbytes) + " expected");
    data.push_back(b + e->offset);
    return i;
  });
  size_t pos = 0;
  const uint32_t top = m.load(b + data_pkl->offset, static_cast<size_t>(data_pkl->size), pos);
  Checkpoint out = extract(m, top, origin);
  out.big_endian = c.big_endian;
  for (size_t i = 0; i < m.storages().size(); ++i) {
    const StorageInfo& s = m.storages()[i];
    out.storages.push_back({s.key, s.dtype, s.nbytes, s.nbytes ? data[i] : nullptr});
  }
  return out;
}

Checkpoint parse_legacy(const uint8_t* b, size_t size, const std::string& origin) {
  std::unordered_map<std::string, size_t> by_key;
  std::vector<std::pair<size_t, uint64_t>> view_of;  // storage -> (root storage, byte offset)
  Machine m(origin, [&](Machine& vm, uint32_t pid) {
    const Object& p = vm.at(pid);
    StorageInfo root = storage_of(vm, p, 6);
    const size_t before = vm.storages().size(), r = intern(vm, by_key, root);
    if (vm.storages().size() != before) view_of.emplace_back(r, 0);
    const Object& view = vm.at(p.items[5]);
    if (view.kind == Kind::None) return r;
    // An old storage view: (view_key, offset, size) in elements of the root storage.
    if (view.kind != Kind::Tuple || view.items.size() != 3 || vm.at(view.items[0]).kind != Kind::Str ||
        vm.at(view.items[1]).kind != Kind::Int || vm.at(view.items[2]).kind != Kind::Int)
      vm.fail("a storage view is not (key, offset, size)");
    const int64_t off = vm.at(view.items[1]).i, n = vm.at(view.items[2]).i;
    const uint64_t esize = st::dtype_size(root.dtype);
    const uint64_t rbytes = vm.storages()[r].nbytes;
    if (off < 0 || n < 0 || static_cast<uint64_t>(off) > rbytes / esize ||
        static_cast<uint64_t>(n) > rbytes / esize - static_cast<uint64_t>(off))
      vm.fail("a storage view lies outside its storage");
    const StorageInfo v{vm.at(view.items[0]).s, root.dtype, static_cast<uint64_t>(n) * esize};
    const size_t before_view = vm.storages().size(), vi = intern(vm, by_key, v);
    if (vm.storages().size() != before_view)  // r may itself be a view (hostile keys): chain to its root
      view_of.emplace_back(view_of[r].first, view_of[r].second + static_cast<uint64_t>(off) * esize);
    return vi;
  });
  size_t pos = 0;
  const Object& magic = m.at(m.load(b, size, pos));
  if (magic.kind != Kind::BigInt || magic.s.size() != sizeof kMagic || std::memcmp(magic.s.data(), kMagic, sizeof kMagic))
    bad(origin, "starts with a pickle but not with torch.save's magic number (a plain pickle, not a checkpoint?)");
  const Object& proto = m.at(m.load(b, size, pos));
  if (proto.kind != Kind::Int || proto.i != kLegacyProtocol) bad(origin, "has an unknown torch.save protocol version");
  if (m.at(m.load(b, size, pos)).kind != Kind::Dict) bad(origin, "has no sys_info dict");
  const uint32_t top = m.load(b, size, pos);
  const Object& keys = m.at(m.load(b, size, pos));
  if (keys.kind != Kind::List) bad(origin, "has no list of storage keys after the data");

  // The storages' bytes, in the listed order: int64 element count, then the data (always little-endian).
  std::vector<const uint8_t*> data(m.storages().size(), nullptr);
  std::set<size_t> seen;
  for (uint32_t k : keys.items) {
    const Object& key = m.at(k);
    const auto it = key.kind == Kind::Str ? by_key.find(key.s) : by_key.end();
    if (it == by_key.end() || view_of[it->second].first != it->second || !seen.insert(it->second).second)
      bad(origin, "lists a storage key that the data does not use, or lists one twice");
    const StorageInfo& s = m.storages()[it->second];
    if (size - pos < 8) bad(origin, "is truncated in the data of storage " + quote(s.key));
    const uint64_t n = load_le(b + pos, 8);
    pos += 8;
    const uint64_t esize = st::dtype_size(s.dtype);
    if (n != s.nbytes / esize) bad(origin, "storage " + quote(s.key) + " has a size header that does not match its use");
    if (size - pos < s.nbytes) bad(origin, "is truncated in the data of storage " + quote(s.key));
    data[it->second] = b + pos;
    pos += static_cast<size_t>(s.nbytes);
  }
  for (size_t i = 0; i < view_of.size(); ++i)
    if (view_of[i].first == i && !seen.count(i)) bad(origin, "has no data for storage " + quote(m.storages()[i].key));

  Checkpoint out = extract(m, top, origin);
  out.zip = false;
  for (size_t i = 0; i < m.storages().size(); ++i) {
    const StorageInfo& s = m.storages()[i];
    const uint8_t* root = data[view_of[i].first];
    out.storages.push_back({s.key, s.dtype, s.nbytes, s.nbytes ? root + view_of[i].second : nullptr});
  }
  return out;
}

}  // namespace

int64_t TensorRecord::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // parse() checked that this does not overflow
  return n;
}

uint64_t TensorRecord::nbytes() const { return static_cast<uint64_t>(numel()) * st::dtype_size(dtype); }

bool looks_like_torch_save(const uint8_t* b, size_t size) {
  return (size >= 4 && std::memcmp(b, "PK\x03\x04", 4) == 0) || (size >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5);
}

Checkpoint parse(const uint8_t* b, size_t size, const std::string& origin) {
  if (size >= 4 && std::memcmp(b, "PK\x03\x04", 4) == 0) return parse_zip(b, size, origin);
  if (size >= 2 && b[0] == 0x80) return parse_legacy(b, size, origin);
  if (size >= 262 && std::memcmp(b + 257, "ustar", 5) == 0)
    bad(origin, "is a tar archive from PyTorch < 0.4, which imp does not read",
        "\nhint: load it with that PyTorch version and re-save it with torch.save or safetensors");
  bad(origin, "is neither a zip archive nor a pickle: not a torch.save file");
}

void read_tensor(const Checkpoint& c, const TensorRecord& t, uint8_t* dst) {
  const size_t esize = st::dtype_size(t.dtype);
  if (t.numel() == 0) return;
  // Dimensions of size 1 do not move; adjacent ones that are contiguous in memory merge into one.
  std::vector<std::pair<int64_t, int64_t>> dims;  // (size, stride), outermost first
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (t.shape[d] == 1) continue;
    if (!dims.empty() && dims.back().second == t.shape[d] * t.stride[d]) {
      dims.back() = {dims.back().first * t.shape[d], t.stride[d]};
    } else {
      dims.emplace_back(t.shape[d], t.stride[d]);
    }
  }
  size_t run = 1;  // elements copied with one memcpy
  if (!dims.empty() && dims.back().second == 1) {
    run = static_cast<size_t>(dims.back().first);
    dims.pop_back();
  }
  const uint8_t* base = c.storages[t.storage].data + static_cast<size_t>(t.offset) * esize;
  std::vector<int64_t> idx(dims.size(), 0);
  const size_t chunk = run * esize;
  for (uint8_t* out = dst, *end = dst + t.nbytes(); out < end; out += chunk) {
    int64_t at = 0;
    for (size_t d = 0; d < dims.size(); ++d) at += idx[d] * dims[d].second;
    std::memcpy(out, base + static_cast<size_t>(at) * esize, chunk);
    for (size_t d = dims.size(); d-- > 0;) {  // odometer over the outer dimensions
      if (++idx[d] < dims[d].first) break;
      idx[d] = 0;
    }
  }
  if (c.big_endian && esize > 1)
    for (uint8_t* p = dst, *end = dst + t.nbytes(); p < end; p += esize) std::reverse(p, p + esize);
}

File File::open(const std::string& path) {
  File f;
  f.map = MappedFile::open(path);
  if (f.map.size() == 0) bad(path, "the file is empty (0 bytes)");
  f.checkpoint = parse(f.map.data(), f.map.size(), path);
  return f;
}

bool only_torch_save_in(const std::string& dir) {
  const std::filesystem::path d(dir);
  std::error_code ec;
  auto has = [&](const char* name) { return std::filesystem::exists(d / name, ec); };
  return (has(kIndexFile) || has(kSingleFile)) && !has("model.safetensors") && !has("model.safetensors.index.json");
}

std::vector<File> open_dir(const std::string& dir) {
  const std::filesystem::path d(dir), index = d / kIndexFile;
  std::error_code ec;
  std::vector<File> files;
  if (!std::filesystem::exists(index, ec)) {
    if (!std::filesystem::exists(d / kSingleFile, ec))
      throw Error(dir + ": has neither " + kIndexFile + " nor " + kSingleFile, ErrorKind::io);
    files.push_back(File::open((d / kSingleFile).string()));
    return files;
  }
  const st::ShardIndex idx = st::read_index(index.string(), ".bin");
  std::vector<st::ShardContents> contents;
  for (const auto& name : st::shard_names(idx)) {
    if (!std::filesystem::exists(d / name, ec))
      throw Error(index.string() + ": the shard " + quote(name) + " it lists is missing from " + dir +
                      "; the download is incomplete, download the checkpoint again",
                  ErrorKind::io);
    files.push_back(File::open((d / name).string()));
    contents.push_back({name, {}});
    for (const auto& t : files.back().checkpoint.tensors) contents.back().tensors.emplace_back(t.name, t.nbytes());
  }
  st::check_index(idx, contents, index.string());
  return files;
}

}  // namespace imp::pkl
