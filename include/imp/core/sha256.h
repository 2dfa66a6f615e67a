// SHA-256 (FIPS 180-4) of bytes and files, for checkpoint manifests. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace imp {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex();  // finishes the hash; call once

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);
// Streams the file; throws imp::Error(io) naming it when it cannot be read.
std::string sha256_file(const std::string& path, uint64_t* size = nullptr);

}  // namespace imp
