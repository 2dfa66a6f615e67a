// Torch-free reader and writer for the safetensors format and its sharded-checkpoint index
// (model.safetensors.index.json). Every byte read from a file is treated as hostile: parse()
// implements the SEC-1 checks of design/reliability.md §1e and throws imp::Error (kind input for a
// bad file, io for the file system) whose message names the file and the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "imp/core/mapped_file.h"

namespace imp::st {

// The dtypes imp accepts; the names are those of the Rust crate ("F32", "BF16", ...).
enum class DType { BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2 };

DType parse_dtype(const std::string& s);  // throws imp::Error listing the accepted names
const char* dtype_name(DType d);
size_t dtype_size(DType d);  // bytes per element

struct TensorInfo {
  std::string name;
  DType dtype = DType::U8;
  std::vector<int64_t> shape;   // [] = 0-d scalar
  uint64_t begin = 0, end = 0;  // offsets relative to the data buffer (which starts at data_start)
  int64_t numel() const;        // throws if the product overflows int64 (never for a parsed file)
  uint64_t nbytes() const { return end - begin; }
};

struct Header {
  std::vector<TensorInfo> tensors;              // in file order (sorted by begin, then name)
  std::map<std::string, std::string> metadata;  // __metadata__ (string -> string only)
  uint64_t data_start = 0;                      // 8 + N
};

// Parses and fully validates a whole safetensors file held in memory (bytes = the entire file).
// origin names the file in error messages (usually its path). Allocates O(size) at most.
Header parse(const uint8_t* bytes, size_t size, const std::string& origin);

// A read-only memory-mapped safetensors file, validated with parse(). Move-only; unmaps on
// destruction. Offsets are only byte-aligned by the spec, so data() may be unaligned: copy (memcpy)
// instead of casting it to float* or similar.
class File {
 public:
  // io error if missing/unreadable/not a regular file; input error if empty or corrupt.
  static File open(const std::string& path);

  const Header& header() const { return header_; }
  const std::string& path() const { return map_.path(); }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent; O(log n)
  const uint8_t* data(const TensorInfo& t) const;         // pointer into the mapping (may be unaligned!)

 private:
  File() = default;

  MappedFile map_;
  Header header_;
  std::vector<uint32_t> by_name_;  // indices into header_.tensors sorted by name, for find()
};

// A tensor to write: data points at nbytes contiguous little-endian C-order bytes
// (nbytes must equal numel * dtype_size; data may be null when nbytes is 0).
struct TensorView {
  std::string name;
  DType dtype = DType::U8;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t nbytes = 0;
};

// Writes one file atomically: "<path>.tmp.<pid>", fsync, rename; the tmp file is removed on any
// failure, so a full disk gives an io error and leaves an existing file at path untouched.
// Metadata always contains {"format":"pt"} (which transformers requires) plus the given entries.
// Tensors are laid out in name order; the header is space-padded to a multiple of 8 bytes.
void write_file(const std::string& path, const std::vector<TensorView>& tensors,
                const std::map<std::string, std::string>& metadata = {});

// model.safetensors.index.json: {"metadata": {"total_size": N, ...}, "weight_map": {tensor: file}}.
struct ShardIndex {
  std::map<std::string, std::string> weight_map;
  uint64_t total_size = 0;  // 0 when absent
  bool has_total_size = false;
  std::map<std::string, std::string> metadata_extra;  // other metadata entries (non-strings as JSON)
};

// Validates the index: duplicate keys rejected; weight_map values are plain file names in the same
// directory ending in shard_ext; total_size (if present) a non-negative integer.
ShardIndex parse_index(const std::string& json_text, const std::string& origin,
                       const std::string& shard_ext = ".safetensors");
// Reads (at most 100 MB) and parses an index file.
ShardIndex read_index(const std::string& path, const std::string& shard_ext = ".safetensors");
// The distinct shard file names of an index, sorted.
std::vector<std::string> shard_names(const ShardIndex& idx);

// What one shard holds: (tensor name, bytes) pairs.
struct ShardContents {
  std::string file;
  std::vector<std::pair<std::string, uint64_t>> tensors;
};
// Cross-checks an index against its shards: every tensor listed, in the shard the index names, in one
// shard only; every listed tensor present; total_size (if given) the sum of the tensors' bytes.
void check_index(const ShardIndex& idx, const std::vector<ShardContents>& shards, const std::string& origin);

// Writes tensors into dir the way Hugging Face does: one "<prefix>.safetensors" if the total fits in
// max_shard_bytes (HF counts "1024MB" as 1024 * 10^6), else "<prefix>-00001-of-0000N.safetensors"...
// (greedy in name order; a tensor larger than the limit gets its own shard) plus
// "<prefix>.safetensors.index.json". Every file is written atomically; files of an older save with
// the same prefix that the new one does not use are removed only after the new save is complete.
// Returns the file names written (index last).
std::vector<std::string> write_sharded(const std::string& dir, const std::vector<TensorView>& tensors,
                                       uint64_t max_shard_bytes, const std::string& prefix = "model");

struct ShardedFiles {
  std::vector<File> files;
  std::map<std::string, std::pair<size_t, const TensorInfo*>> by_name;  // tensor -> (file index, info)
};

// Opens "<prefix>.safetensors.index.json" and every shard it names (cross-checking the index against
// the shards), or else "<prefix>.safetensors". torch.save checkpoints are read by imp::pkl::open_dir.
ShardedFiles open_dir(const std::string& dir, const std::string& prefix = "model");

}  // namespace imp::st
