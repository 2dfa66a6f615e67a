// safetensors reader/writer and shard index. The validator follows the Rust crate's
// (safetensors/src/tensor.rs) plus the extra C++ checks of design/reliability.md §1e; see the
// header for the contract. Everything here is torch-free so it can be fuzzed on its own.
#include "imp/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "imp/core/error.h"
#include "imp/core/json.h"

namespace imp::st {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr uint64_t kMaxHeaderBytes = json_limits::safetensors_header.max_bytes;  // the Rust crate's MAX_HEADER_SIZE
constexpr size_t kMaxNameBytes = 1024;
constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
const char* const kFileHint = "; the file is corrupt or not a safetensors file, re-download or re-export it";
const char* const kIndexHint = "; the checkpoint index is corrupt, re-download or re-save the checkpoint";

[[noreturn]] void corrupt(const std::string& origin, const std::string& problem, const char* hint = kFileHint) {
  throw Error(origin + ": " + problem + hint, ErrorKind::input);
}

[[noreturn]] void io_fail(const std::string& origin, const std::string& problem, int err) {
  throw Error(str(origin, ": ", problem, " (", std::strerror(err), ")"), ErrorKind::io);
}

[[noreturn]] void bug(const std::string& problem) {
  throw Error("imp::st: " + problem + " (a bug in the caller)", ErrorKind::internal);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

struct DTypeRow {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},           {DType::I8, "I8", 1},           {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},   {DType::I32, "I32", 4},         {DType::U32, "U32", 4},         {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},   {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},       {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},   {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

const DTypeRow* find_dtype(const std::string& s) {
  for (const auto& row : kDTypes)
    if (s == row.name) return &row;
  return nullptr;
}

std::string unknown_dtype(const std::string& s) {
  std::string msg = "unknown dtype " + quote(s) + " (accepted:";
  for (const auto& row : kDTypes) msg += std::string(" ") + row.name;
  return msg + ")";
}

// Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or n when all of it is.
size_t utf8_error(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return n;
}

// Π shape × dtype size with checked multiplication, in the Rust crate's order (so a 0 after an
// overflowing prefix still counts as overflow, as there). False on overflow or a negative dim.
bool byte_size(const std::vector<int64_t>& shape, DType dtype, uint64_t* out) {
  uint64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  return n <= kInt64Max && !__builtin_mul_overflow(n, static_cast<uint64_t>(dtype_size(dtype)), out);
}

// Builds the Header straight from nlohmann's SAX events. No DOM is built, and the fixed schema
// (object -> objects -> arrays of integers) caps nesting at depth 3 (nlohmann's sax_parse itself is
// iterative); the shared JSON limits check (core/json.h) runs first, so a 10^5-deep input is refused
// with the same message as every other JSON file. Duplicate keys at every
// level are rejected here: nlohmann's DOM parser would silently keep the last one.
class HeaderSax final : public json::json_sax_t {
 public:
  HeaderSax(const std::string& origin, Header& h) : origin_(origin), h_(h) {}

  bool null() override { return bad("null"); }
  bool boolean(bool) override { return bad("a boolean"); }
  bool number_integer(number_integer_t v) override {  // only numbers written with a '-' get here
    return v >= 0 ? integer(static_cast<uint64_t>(v)) : bad("the negative number " + std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return integer(v); }
  bool number_float(number_float_t, const string_t& s) override { return bad("the non-integer number " + s); }
  bool binary(binary_t&) override { return bad("binary data"); }

  bool string(string_t& s) override {
    if (ctx_ == Ctx::metadata) {
      h_.metadata.emplace(key_, s);
    } else if (ctx_ == Ctx::tensor && key_ == "dtype") {
      const DTypeRow* row = find_dtype(s);
      if (!row) corrupt(origin_, "tensor " + quote(cur_.name) + " has " + unknown_dtype(s));
      cur_.dtype = row->dtype;
    } else {
      return bad("a string " + quote(s));
    }
    return true;
  }

  bool start_object(std::size_t) override {
    if (ctx_ == Ctx::start) {
      ctx_ = Ctx::root;
    } else if (ctx_ == Ctx::root && key_ == "__metadata__") {
      ctx_ = Ctx::metadata;
    } else if (ctx_ == Ctx::root) {
      cur_ = TensorInfo{};
      cur_.name = key_;
      seen_ = 0;
      ctx_ = Ctx::tensor;
    } else {
      return bad("an object");
    }
    return true;
  }

  bool key(string_t& k) override {
    if (ctx_ == Ctx::root) {
      if (k == "__metadata__") {
        if (have_metadata_) corrupt(origin_, "duplicate key '__metadata__' in the header");
        have_metadata_ = true;
      } else if (k.empty()) {
        corrupt(origin_, "a tensor has an empty name");
      } else if (k.size() > kMaxNameBytes) {
        corrupt(origin_, str("tensor name ", quote(k), " is ", k.size(), " bytes long; the limit is ", kMaxNameBytes));
      }
      // Duplicate tensor names are found by one sort in check_layout (no hash-flooding risk).
    } else if (ctx_ == Ctx::metadata) {
      if (h_.metadata.count(k)) corrupt(origin_, "duplicate key " + quote(k) + " in __metadata__");
    } else {  // Ctx::tensor
      if (k != "dtype" && k != "shape" && k != "data_offsets")
        corrupt(origin_, "tensor " + quote(cur_.name) + " has unknown field " + quote(k) +
                             " (expected exactly dtype, shape, data_offsets)");
      const unsigned bit = k == "dtype" ? 1u : k == "shape" ? 2u : 4u;
      if (seen_ & bit) corrupt(origin_, "tensor " + quote(cur_.name) + " has duplicate field " + quote(k));
      seen_ |= bit;
    }
    key_ = k;
    return true;
  }

  bool end_object() override {
    if (ctx_ == Ctx::tensor) finish_tensor();
    ctx_ = ctx_ == Ctx::root ? Ctx::done : Ctx::root;
    return true;
  }

  bool start_array(std::size_t) override {
    if (ctx_ == Ctx::tensor && key_ == "shape") {
      ctx_ = Ctx::shape;
    } else if (ctx_ == Ctx::tensor && key_ == "data_offsets") {
      offsets_.clear();
      ctx_ = Ctx::offsets;
    } else {
      return bad("an array");
    }
    return true;
  }

  bool end_array() override {
    if (ctx_ == Ctx::offsets && offsets_.size() != 2)
      corrupt(origin_, str("data_offsets of tensor ", quote(cur_.name), " has ", offsets_.size(),
                           " entries; it must be [begin, end]"));
    ctx_ = Ctx::tensor;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    corrupt(origin_, std::string("the header is not valid JSON: ") + e.what());
  }

 private:
  enum class Ctx { start, root, metadata, tensor, shape, offsets, done };

  bool integer(uint64_t v) {
    if (ctx_ == Ctx::shape) {
      if (v > kInt64Max)
        corrupt(origin_, str("shape of tensor ", quote(cur_.name), " has dimension ", v, ", too large"));
      cur_.shape.push_back(static_cast<int64_t>(v));
    } else if (ctx_ == Ctx::offsets) {
      if (offsets_.size() == 2) return bad("a third entry");
      offsets_.push_back(v);
    } else {
      return bad("the number " + std::to_string(v));
    }
    return true;
  }

  // A value of the wrong type: say where it is and what was expected.
  [[noreturn]] bool bad(const std::string& got) {
    const std::string t = quote(cur_.name);
    std::string where;
    if (ctx_ == Ctx::start || ctx_ == Ctx::done) where = "the header must be one JSON object";
    if (ctx_ == Ctx::root) where = "header entry " + quote(key_) + " must be a JSON object";
    if (ctx_ == Ctx::metadata) where = "__metadata__ value for key " + quote(key_) + " must be a string";
    if (ctx_ == Ctx::tensor && key_ == "dtype") where = "dtype of tensor " + t + " must be a string";
    if (ctx_ == Ctx::tensor && key_ != "dtype") where = key_ + " of tensor " + t + " must be an array";
    if (ctx_ == Ctx::shape) where = "shape of tensor " + t + " must contain non-negative integers";
    if (ctx_ == Ctx::offsets) where = "data_offsets of tensor " + t + " must be two non-negative integers";
    corrupt(origin_, where + ", got " + got);
  }

  void finish_tensor() {
    const char* fields[] = {"dtype", "shape", "data_offsets"};
    for (unsigned i = 0; i < 3; ++i)
      if (!(seen_ & (1u << i))) corrupt(origin_, "tensor " + quote(cur_.name) + " lacks the field " + fields[i]);
    cur_.begin = offsets_[0];
    cur_.end = offsets_[1];
    const std::string offs = str("data_offsets [", cur_.begin, ",", cur_.end, "]");
    if (cur_.end < cur_.begin) corrupt(origin_, "tensor " + quote(cur_.name) + " " + offs + " are reversed");
    uint64_t need = 0;
    if (!byte_size(cur_.shape, cur_.dtype, &need))
      corrupt(origin_, str("tensor ", quote(cur_.name), " shape ", shape_str(cur_.shape), " with dtype ",
                           dtype_name(cur_.dtype), " overflows a 64-bit byte count"));
    if (need != cur_.nbytes())
      corrupt(origin_, str("tensor ", quote(cur_.name), " has shape ", shape_str(cur_.shape), " and dtype ",
                           dtype_name(cur_.dtype), ", which needs ", need, " bytes, but its ", offs, " span ",
                           cur_.nbytes(), " bytes (size mismatch)"));
    h_.tensors.push_back(std::move(cur_));
  }

  const std::string& origin_;
  Header& h_;
  Ctx ctx_ = Ctx::start;
  std::string key_;  // the last key read in the current object
  bool have_metadata_ = false;
  TensorInfo cur_;
  unsigned seen_ = 0;  // bit mask of the fields of cur_ read so far: dtype 1, shape 2, data_offsets 4
  std::vector<uint64_t> offsets_;
};

// Tensor indices sorted by name (one O(n log n) sort serves both duplicate detection and find()).
std::vector<uint32_t> name_order(const std::vector<TensorInfo>& ts) {
  std::vector<uint32_t> order(ts.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ts[a].name < ts[b].name; });
  return order;
}

// Sorts by offset and checks the data buffer is covered exactly once, contiguously, with nothing
// after the last tensor: a hole or trailing bytes could hide a second file format (a polyglot).
void check_layout(Header& h, uint64_t data_size, const std::string& origin, std::vector<uint32_t>* by_name) {
  auto& ts = h.tensors;
  std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  *by_name = name_order(ts);
  for (size_t i = 1; i < by_name->size(); ++i)
    if (ts[(*by_name)[i]].name == ts[(*by_name)[i - 1]].name)
      corrupt(origin, "duplicate tensor name " + quote(ts[(*by_name)[i]].name));
  uint64_t expected = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& t = ts[i];
    if (t.begin < expected)
      corrupt(origin, str("tensor ", quote(t.name), " data_offsets [", t.begin, ",", t.end, "] overlaps tensor ",
                          quote(ts[i - 1].name), " [", ts[i - 1].begin, ",", ts[i - 1].end, "]"));
    if (t.begin > expected)
      corrupt(origin, str("there is a gap of ", t.begin - expected, " bytes before tensor ", quote(t.name),
                          " (data_offsets [", t.begin, ",", t.end, "]); tensors must cover the data contiguously"));
    expected = t.end;
  }
  if (expected < data_size)
    corrupt(origin, str("there are ", data_size - expected,
                        " trailing bytes after the last tensor's data "
                        "(unindexed bytes can make the file a polyglot)"));
  if (expected > data_size)
    corrupt(origin, str("the file is truncated: the tensors need ", expected, " bytes of data but only ", data_size,
                        " are present"));
}

Header parse_impl(const uint8_t* bytes, size_t size, const std::string& origin, std::vector<uint32_t>* by_name) {
  if (size == 0) corrupt(origin, "the file is empty (0 bytes)");
  if (size < 8) corrupt(origin, str("the file is ", size, " bytes long, too small for the 8-byte header length"));
  uint64_t n = 0;  // explicit little-endian decode: no unaligned load, no host-order dependence
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxHeaderBytes) corrupt(origin, str("header length ", n, " exceeds the ", kMaxHeaderBytes, "-byte limit"));
  if (n > size - 8) corrupt(origin, str("header length ", n, " runs past the end of the file (", size, " bytes)"));
  if (n == 0 || bytes[8] != '{') corrupt(origin, "the header must start with '{' (a JSON object)");
  const size_t bad = utf8_error(bytes + 8, n);
  if (bad != n) corrupt(origin, str("the header is not valid UTF-8 (at header byte ", bad, ")"));

  Header h;
  h.data_start = 8 + n;
  HeaderSax sax(origin, h);
  const char* text = reinterpret_cast<const char*>(bytes) + 8;
  check_json_limits(text, n, origin, json_limits::safetensors_header);
  // strict: only whitespace (the spec's trailing padding) may follow the object.
  if (!json::sax_parse(text, text + n, &sax)) corrupt(origin, "the header is not valid JSON");
  check_layout(h, size - h.data_start, origin, by_name);
  return h;
}

// Strict DOM parse for the shard index: duplicate keys and deep nesting rejected (core/json.h).
json parse_index_json(const std::string& text, const std::string& origin) {
  return parse_json_strict(text, origin, json_limits::safetensors_index, kIndexHint);
}

bool is_plain_shard_name(const std::string& s, const std::string& ext) {
  return s.size() > ext.size() && s.compare(s.size() - ext.size(), ext.size(), ext) == 0 &&
         s.find_first_of("/\\") == std::string::npos && s.find("..") == std::string::npos &&
         std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

// "<prefix>-NNNNN-of-NNNNN.safetensors", the names write_sharded (and HF) give shards.
bool is_shard_file_of(const std::string& name, const std::string& prefix) {
  const std::string head = prefix + "-", tail = ".safetensors";
  if (name.size() <= head.size() + tail.size() || name.compare(0, head.size(), head) != 0 ||
      name.compare(name.size() - tail.size(), tail.size(), tail) != 0)
    return false;
  const std::string mid = name.substr(head.size(), name.size() - head.size() - tail.size());
  const size_t of = mid.find("-of-");
  auto digits = [](const std::string& s) {
    return s.size() >= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return of != std::string::npos && digits(mid.substr(0, of)) && digits(mid.substr(of + 4));
}

// A file written to "<path>.tmp.<pid>" and renamed over path by commit(); removed if not committed.
class AtomicWriter {
 public:
  explicit AtomicWriter(const std::string& path) : path_(path), tmp_(str(path, ".tmp.", ::getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
      io_fail(path_,
              "cannot create the temporary file " + quote(tmp_) + "; does the directory exist and is it writable?",
              errno);
  }
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;
  ~AtomicWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  void write(const void* data, uint64_t n) {
    auto p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, std::min<uint64_t>(n, 1u << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) io_fail(path_, "write failed; any existing file was left untouched", w < 0 ? errno : ENOSPC);
      p += w;
      n -= static_cast<uint64_t>(w);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) io_fail(path_, "fsync failed; any existing file was left untouched", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) io_fail(path_, "close failed; any existing file was left untouched", errno);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) io_fail(path_, "cannot rename " + quote(tmp_) + " onto it", errno);
    committed_ = true;
    // Make the rename itself durable; best effort, since the data is already safely in place.
    const std::string dir = fs::path(path_).parent_path().string();
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Closes a file descriptor on scope exit.
struct FdGuard {
  int fd;
  ~FdGuard() { ::close(fd); }
};

// Opens path read-only and checks it is a regular file; returns the descriptor and the size.
int open_regular(const std::string& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) io_fail(path, "cannot open", errno);
  struct stat st {};
  const int err = ::fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : !S_ISREG(st.st_mode) ? EINVAL : 0;
  if (err) {
    ::close(fd);
    io_fail(path, "is not a regular file that can be read", err);
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

std::string read_small_file(const std::string& path, uint64_t limit) {
  uint64_t size = 0;
  const FdGuard fd{open_regular(path, &size)};
  if (size > limit) corrupt(path, str("is ", size, " bytes; the limit is ", limit), kIndexHint);
  std::string text(static_cast<size_t>(size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t r = ::read(fd.fd, &text[got], text.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) io_fail(path, "read failed", errno);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  text.resize(got);
  return text;
}

[[noreturn]] void no_checkpoint(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> pickles;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string ext = e.path().extension().string();
    if (ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt" || ext == ".pkl")
      pickles.push_back(e.path().filename().string());
  }
  std::string msg = str(dir.string(), ": no checkpoint found (looked for ", prefix, ".safetensors.index.json, ",
                        prefix, ".safetensors, pytorch_model.bin.index.json and pytorch_model.bin)");
  if (pickles.empty()) throw Error(msg, ErrorKind::io);
  std::sort(pickles.begin(), pickles.end());
  msg += "; found the pickle file " + quote(pickles[0]) + (pickles.size() > 1 ? " and others" : "") +
         ": imp reads a torch.save checkpoint in a model directory under Hugging Face's names only. Rename it "
         "to pytorch_model.bin, or convert it with Python: "
         "safetensors.torch.save_file(torch.load(path, weights_only=True), 'model.safetensors'), or "
         "model.save_pretrained(dir, safe_serialization=True)";
  throw Error(msg, ErrorKind::input);
}

}  // namespace

DType parse_dtype(const std::string& s) {
  const DTypeRow* row = find_dtype(s);
  if (!row) throw Error(unknown_dtype(s), ErrorKind::input);
  return row->dtype;
}

const char* dtype_name(DType d) {
  for (const auto& row : kDTypes)
    if (row.dtype == d) return row.name;
  return "?";
}

size_t dtype_size(DType d) {
  for (const auto& row : kDTypes)
    if (row.dtype == d) return row.size;
  return 0;
}

int64_t TensorInfo::numel() const {
  uint64_t bytes = 0;
  if (!byte_size(shape, DType::U8, &bytes))
    bug("shape " + shape_str(shape) + " of " + quote(name) + " overflows int64");
  return static_cast<int64_t>(bytes);
}

Header parse(const uint8_t* bytes, size_t size, const std::string& origin) {
  std::vector<uint32_t> by_name;
  return parse_impl(bytes, size, origin, &by_name);
}

// ---- File ------------------------------------------------------------------------------------

File File::open(const std::string& path) {
  File f;
  f.map_ = MappedFile::open(path);
  if (f.map_.size() == 0) corrupt(path, "the file is empty (0 bytes)");
  f.header_ = parse_impl(f.map_.data(), f.map_.size(), path, &f.by_name_);
  return f;
}

const TensorInfo* File::find(const std::string& name) const {
  const auto& ts = header_.tensors;
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](uint32_t i, const std::string& n) { return ts[i].name < n; });
  return it != by_name_.end() && ts[*it].name == name ? &ts[*it] : nullptr;
}

const uint8_t* File::data(const TensorInfo& t) const {
  if (!map_.data() || t.end < t.begin || t.end > map_.size() - header_.data_start)
    bug("tensor " + quote(t.name) + " is not a tensor of " + path());
  return map_.data() + header_.data_start + t.begin;
}

// ---- writing ---------------------------------------------------------------------------------

void write_file(const std::string& path, const std::vector<TensorView>& tensors,
                const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorView*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });

  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "pt";  // transformers refuses safetensors files without it
  std::string header;
  try {
    header = "{\"__metadata__\":" + json(meta).dump();
    uint64_t offset = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      const TensorView& t = *order[i];
      uint64_t need = 0;
      if (t.name.empty() || t.name.size() > kMaxNameBytes || t.name == "__metadata__")
        bug("invalid tensor name " + quote(t.name));
      if (i > 0 && t.name == order[i - 1]->name) bug("tensor " + quote(t.name) + " given twice");
      if (!byte_size(t.shape, t.dtype, &need) || need != t.nbytes || (t.nbytes && !t.data))
        bug(str("tensor ", quote(t.name), " shape ", shape_str(t.shape), " ", dtype_name(t.dtype),
                " does not match its ", t.nbytes, " bytes"));
      header += str(",", json(t.name).dump(), ":{\"dtype\":\"", dtype_name(t.dtype),
                    "\",\"shape\":", json(t.shape).dump(), ",\"data_offsets\":[", offset, ",", offset + t.nbytes, "]}");
      offset += t.nbytes;
    }
  } catch (const json::exception& e) {  // invalid UTF-8 in a name or metadata string
    bug(std::string("cannot encode the header: ") + e.what());
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // as the Rust crate: keeps the data 8-byte aligned

  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  AtomicWriter out(path);
  out.write(len, 8);
  out.write(header.data(), header.size());
  for (const TensorView* t : order) out.write(t->data, t->nbytes);
  out.commit();
}

std::vector<std::string> write_sharded(const std::string& dir, const std::vector<TensorView>& tensors,
                                       uint64_t max_shard_bytes, const std::string& prefix) {
  if (prefix.empty() || prefix.find_first_of("/\\") != std::string::npos || prefix.find("..") != std::string::npos)
    bug("shard prefix " + quote(prefix) + " is not a plain file name");

  // huggingface_hub's split_state_dict_into_shards_factory, in name order: greedy, a tensor larger
  // than the limit goes alone into a shard of its own (appended before the current one, as there).
  std::vector<const TensorView*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  for (size_t i = 1; i < order.size(); ++i)  // write_file would only see duplicates within one shard
    if (order[i]->name == order[i - 1]->name) bug("tensor " + quote(order[i]->name) + " given twice");
  std::vector<std::vector<TensorView>> shards;
  std::vector<TensorView> current;
  uint64_t current_size = 0, total_size = 0;
  for (const TensorView* t : order) {
    total_size += t->nbytes;
    if (t->nbytes > max_shard_bytes) {
      shards.push_back({*t});
      continue;
    }
    if (t->nbytes > max_shard_bytes - current_size) {
      shards.push_back(std::move(current));
      current.clear();
      current_size = 0;
    }
    current.push_back(*t);
    current_size += t->nbytes;
  }
  if (!current.empty() || shards.empty()) shards.push_back(std::move(current));

  std::error_code ec;
  fs::create_directories(dir, ec);  // like save_pretrained; a failure shows up as a write error below
  const fs::path d(dir);
  const std::string single = prefix + ".safetensors", index = prefix + ".safetensors.index.json";
  std::vector<std::string> written;
  if (shards.size() == 1) {
    write_file((d / single).string(), shards[0]);
    written.push_back(single);
    fs::remove(d / index, ec);  // from here on open_dir sees the new single file
  } else {
    json weight_map = json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "-%05zu-of-%05zu.safetensors", i + 1, shards.size());
      written.push_back(prefix + name);
      write_file((d / written.back()).string(), shards[i]);
      for (const auto& t : shards[i]) weight_map[t.name] = written.back();
    }
    // The same layout and formatting as transformers: json.dumps(index, indent=2, sort_keys=True) + "\n".
    const std::string text =
        json{{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}}.dump(2) + "\n";
    AtomicWriter out((d / index).string());
    out.write(text.data(), text.size());
    out.commit();
    written.push_back(index);
    fs::remove(d / single, ec);
  }
  // Only now, with the new save complete, drop shards of an older save (best effort: unreferenced).
  const std::set<std::string> keep(written.begin(), written.end());
  for (const auto& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    if (is_shard_file_of(name, prefix) && !keep.count(name)) fs::remove(e.path(), ec);
  }
  return written;
}

// ---- shard index -----------------------------------------------------------------------------

ShardIndex parse_index(const std::string& json_text, const std::string& origin, const std::string& shard_ext) {
  const json j = parse_index_json(json_text, origin);
  if (!j.is_object()) corrupt(origin, str("must be a JSON object, got ", j.type_name()), kIndexHint);
  ShardIndex idx;
  const auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) corrupt(origin, "lacks the \"weight_map\" object", kIndexHint);
  for (const auto& [name, file] : wm->items()) {
    if (name.empty()) corrupt(origin, "weight_map has an empty tensor name", kIndexHint);
    if (!file.is_string() || !is_plain_shard_name(file.get<std::string>(), shard_ext))
      corrupt(origin,
              "weight_map maps " + quote(name) + " to " +
                  (file.is_string() ? quote(file.get<std::string>()) : file.dump()) +
                  ", which is not a plain file name ending in " + shard_ext + " in the index's directory",
              kIndexHint);
    idx.weight_map.emplace(name, file.get<std::string>());
  }
  const auto md = j.find("metadata");
  if (md == j.end() || md->is_null()) return idx;
  if (!md->is_object()) corrupt(origin, str("\"metadata\" must be an object, got ", md->type_name()), kIndexHint);
  for (const auto& [key, value] : md->items()) {
    if (key != "total_size") {
      idx.metadata_extra[key] = value.is_string() ? value.get<std::string>() : value.dump();
      continue;
    }
    // Some exporters write total_size as an integral float (1.5e9): accept exactly those.
    const double f = value.is_number_float() ? value.get<double>() : -1.0;
    if (value.is_number_unsigned()) {
      idx.total_size = value.get<uint64_t>();
    } else if (f >= 0 && f < 9007199254740992.0 && f == static_cast<double>(static_cast<uint64_t>(f))) {
      idx.total_size = static_cast<uint64_t>(f);
    } else {
      corrupt(origin, "metadata.total_size must be a non-negative integer, got " + value.dump(), kIndexHint);
    }
    idx.has_total_size = true;
  }
  return idx;
}

ShardIndex read_index(const std::string& path, const std::string& shard_ext) {
  return parse_index(read_small_file(path, json_limits::safetensors_index.max_bytes), path, shard_ext);
}

std::vector<std::string> shard_names(const ShardIndex& idx) {
  std::vector<std::string> names;
  for (const auto& kv : idx.weight_map) names.push_back(kv.second);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

void check_index(const ShardIndex& idx, const std::vector<ShardContents>& shards, const std::string& origin) {
  std::map<std::string, const std::string*> where;  // tensor -> shard holding it
  uint64_t sum = 0;
  for (const ShardContents& shard : shards) {
    for (const auto& [name, nbytes] : shard.tensors) {
      const auto listed = idx.weight_map.find(name);
      if (listed == idx.weight_map.end())
        corrupt(origin, "tensor " + quote(name) + " of shard " + quote(shard.file) + " is not listed in the weight_map",
                kIndexHint);
      const auto [it, fresh] = where.emplace(name, &shard.file);
      if (!fresh)
        corrupt(origin, "tensor " + quote(name) + " is in two shards, " + quote(*it->second) + " and " + quote(shard.file),
                kIndexHint);
      if (listed->second != shard.file)
        corrupt(origin,
                "weight_map puts tensor " + quote(name) + " in " + quote(listed->second) + " but it is in " +
                    quote(shard.file),
                kIndexHint);
      sum += nbytes;
    }
  }
  for (const auto& [name, shard] : idx.weight_map)
    if (!where.count(name))
      corrupt(origin,
              "weight_map lists tensor " + quote(name) + " in shard " + quote(shard) + ", which does not contain it",
              kIndexHint);
  if (idx.has_total_size && idx.total_size != sum)
    corrupt(origin, str("metadata.total_size is ", idx.total_size, " but the shards hold ", sum, " bytes of tensors"),
            kIndexHint);
}

ShardedFiles open_dir(const std::string& dir, const std::string& prefix) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) io_fail(dir, "is not a directory", fs::exists(d, ec) ? ENOTDIR : ENOENT);
  const fs::path index_path = d / (prefix + ".safetensors.index.json"), single = d / (prefix + ".safetensors");

  ShardedFiles out;
  if (!fs::exists(index_path, ec)) {
    if (!fs::exists(single, ec)) no_checkpoint(d, prefix);
    out.files.push_back(File::open(single.string()));
    for (const TensorInfo& t : out.files[0].header().tensors)
      out.by_name.emplace(t.name, std::make_pair(size_t{0}, &t));
    return out;
  }

  const std::string origin = index_path.string();
  const ShardIndex idx = read_index(origin);
  std::vector<ShardContents> contents;
  for (const auto& name : shard_names(idx)) {
    if (!fs::exists(d / name, ec))
      throw Error(origin + ": the shard " + quote(name) + " it lists is missing from " + dir +
                      "; the download is incomplete, download the checkpoint again",
                  ErrorKind::io);
    out.files.push_back(File::open((d / name).string()));
    contents.push_back({name, {}});
    for (const TensorInfo& t : out.files.back().header().tensors) contents.back().tensors.emplace_back(t.name, t.nbytes());
  }
  check_index(idx, contents, origin);
  // All files are opened before taking pointers: their headers never move after that.
  for (size_t i = 0; i < out.files.size(); ++i)
    for (const TensorInfo& t : out.files[i].header().tensors) out.by_name.emplace(t.name, std::make_pair(i, &t));
  return out;
}

}  // namespace imp::st
