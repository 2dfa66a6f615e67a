// GGUF v3 writer; see imp/export/gguf_writer.h.
#include "imp/export/gguf_writer.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "imp/core/error.h"

namespace imp::gguf {

const char* type_name(TensorType t) {
  switch (t) {
    case TensorType::F32: return "f32";
    case TensorType::F16: return "f16";
    case TensorType::Q4_0: return "q4_0";
    case TensorType::Q8_0: return "q8_0";
    case TensorType::Q4_K: return "q4_k";
  }
  return "?";
}

namespace {

// GGUF value types.
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9, kU64 = 10 };

struct Buf {
  std::vector<uint8_t> b;
  template <typename T>
  void pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void pad(uint64_t align) { b.resize((b.size() + align - 1) / align * align, 0); }
};

void put_value(Buf& o, const Value& v) {
  struct Visit {
    Buf& o;
    void operator()(uint32_t x) { o.pod(kU32), o.pod(x); }
    void operator()(int32_t x) { o.pod(kI32), o.pod(x); }
    void operator()(float x) { o.pod(kF32), o.pod(x); }
    void operator()(bool x) { o.pod(kBool), o.pod<uint8_t>(x ? 1 : 0); }
    void operator()(const std::string& x) { o.pod(kString), o.str(x); }
    void operator()(uint64_t x) { o.pod(kU64), o.pod(x); }
    void operator()(const std::vector<std::string>& x) {
      o.pod(kArray), o.pod(kString), o.pod<uint64_t>(x.size());
      for (const auto& s : x) o.str(s);
    }
    void operator()(const std::vector<int32_t>& x) {
      o.pod(kArray), o.pod(kI32), o.pod<uint64_t>(x.size());
      for (auto v : x) o.pod(v);
    }
    void operator()(const std::vector<float>& x) {
      o.pod(kArray), o.pod(kF32), o.pod<uint64_t>(x.size());
      for (auto v : x) o.pod(v);
    }
  };
  std::visit(Visit{o}, v);
}

}  // namespace

void Writer::set(const std::string& key, Value value) {
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

void Writer::add_tensor(const std::string& name, const std::vector<int64_t>& shape, TensorType type,
                        std::vector<uint8_t> data) {
  for (const auto& t : tensors_) IMP_CHECK(t.name != name, "gguf: tensor ", name, " added twice");
  tensors_.push_back({name, shape, type, std::move(data)});
}

void Writer::write(const std::string& path) const {
  Buf h;
  h.b = {'G', 'G', 'U', 'F'};
  h.pod<uint32_t>(3);
  h.pod<uint64_t>(tensors_.size());
  h.pod<uint64_t>(kv_.size());
  for (const auto& [k, v] : kv_) {
    h.str(k);
    put_value(h, v);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    h.str(t.name);
    h.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) h.pod<uint64_t>(static_cast<uint64_t>(*it));
    h.pod<uint32_t>(static_cast<uint32_t>(t.type));
    h.pod<uint64_t>(offset);
    offset += (t.data.size() + kAlignment - 1) / kAlignment * kAlignment;
  }
  h.pad(kAlignment);

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  IMP_CHECK_KIND(f, ErrorKind::io, path, ": cannot create ", tmp, ": ", std::strerror(errno));
  bool ok = std::fwrite(h.b.data(), 1, h.b.size(), f) == h.b.size();
  static const uint8_t zeros[kAlignment] = {};
  for (const auto& t : tensors_) {
    ok = ok && std::fwrite(t.data.data(), 1, t.data.size(), f) == t.data.size();
    const size_t pad = (kAlignment - t.data.size() % kAlignment) % kAlignment;
    ok = ok && std::fwrite(zeros, 1, pad, f) == pad;
  }
  ok = std::fflush(f) == 0 && ok && ::fsync(fileno(f)) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(str(path, ": writing failed: ", why), ErrorKind::io);
  }
}

}  // namespace imp::gguf
