// Torch-free reader for torch.save() checkpoints (pytorch_model.bin, mm_projector.bin,
// non_lora_trainables.bin, adapter_model.bin, *.pt), in both the zip format (torch >= 1.6) and the
// legacy format (_use_new_zipfile_serialization=False). Nothing in the file is executed: the
// restricted unpickler accepts only the globals torch.load(weights_only=True) needs to rebuild tensors
// and plain containers, and refuses every other global with an imp::Error naming it. Every byte is
// treated as hostile (bounded memo, stack, objects; tensor views checked against their storage), so
// parse() can be fuzzed (tests/fuzz/fuzz_torch_pickle.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "imp/core/mapped_file.h"
#include "imp/io/safetensors.h"

namespace imp::pkl {

// One storage: raw bytes of the file (not copied), stored in the file's byte order.
struct Storage {
  std::string key;       // the archive's storage key ("0", "1", ... or a legacy cdata number)
  st::DType dtype = st::DType::U8;
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // nbytes bytes inside the parsed buffer (null when nbytes is 0)
};

// A state-dict entry: a strided view into one storage that parse() has checked fits in it.
struct TensorRecord {
  std::string name;
  st::DType dtype = st::DType::U8;
  std::vector<int64_t> shape, stride;  // stride in elements, all >= 0
  int64_t offset = 0;                  // storage offset in elements
  size_t storage = 0;                  // index into Checkpoint::storages
  int64_t numel() const;
  uint64_t nbytes() const;  // numel * dtype size
};

struct Checkpoint {
  bool zip = true;          // false: the legacy format
  bool big_endian = false;  // zip "byteorder" record says "big": read_tensor swaps the bytes
  std::vector<Storage> storages;
  std::vector<TensorRecord> tensors;  // in the order of the pickled dict; a repeated name keeps the last
};

// Parses a whole torch.save file held in memory (the bytes must outlive the result). The pickled object
// must be a dict (or OrderedDict) of string -> tensor, as a state dict is. origin names the file in
// error messages. Throws imp::Error (kind input) for a corrupt, unsupported or refused file.
Checkpoint parse(const uint8_t* bytes, size_t size, const std::string& origin);

// True when the bytes start like a torch.save file (zip local header or pickle PROTO 2+).
bool looks_like_torch_save(const uint8_t* bytes, size_t size);

// Copies the tensor's elements into dst (t.nbytes() bytes) in C order, little-endian.
void read_tensor(const Checkpoint& c, const TensorRecord& t, uint8_t* dst);

// A memory-mapped torch.save file, parsed.
struct File {
  MappedFile map;
  Checkpoint checkpoint;
  static File open(const std::string& path);
};

// Hugging Face's names for torch.save checkpoints in a model directory.
inline constexpr const char* kSingleFile = "pytorch_model.bin";
inline constexpr const char* kIndexFile = "pytorch_model.bin.index.json";

// True if dir holds pytorch_model.bin or pytorch_model.bin.index.json and no model.safetensors(.index.json),
// which transformers (and imp) prefer when both exist.
bool only_torch_save_in(const std::string& dir);
// Opens "<dir>/pytorch_model.bin.index.json" and every shard it names (cross-checked with
// st::check_index), or else "<dir>/pytorch_model.bin"; an io error if neither exists.
std::vector<File> open_dir(const std::string& dir);

}  // namespace imp::pkl
