// Torch-free reader of the central directory of a zip archive held in memory (ZIP64 included), enough
// for torch.save's archives, which store every record uncompressed. Internal to src/io.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imp::zip {

struct Entry {
  std::string name;
  uint16_t method = 0;      // 0 stored, 8 deflate, ...
  uint64_t offset = 0;      // first byte of the (possibly compressed) data in the archive
  uint64_t size = 0;        // compressed size: the bytes at offset
  uint64_t raw_size = 0;    // uncompressed size
};

// Every entry of the archive, in central-directory order. Throws imp::Error (input) naming origin if the
// archive is malformed, encrypted, split over several disks, or an entry's data lies outside the buffer,
// or two entries have the same name.
std::vector<Entry> read_entries(const uint8_t* bytes, size_t size, const std::string& origin);

}  // namespace imp::zip
