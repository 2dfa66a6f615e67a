// A read-only memory-mapped regular file (checkpoints are read in place, never copied whole).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace imp {

class MappedFile {
 public:
  // io error naming the path if it is missing, unreadable, not a regular file, or changes size while
  // being mapped. An empty file maps to data() == nullptr, size() == 0.
  static MappedFile open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace imp
