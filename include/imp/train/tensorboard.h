// TensorBoard scalars without TensorFlow: an events.out.tfevents.* file of TFRecord-framed Event protos
// (length, masked CRC-32C, payload, masked CRC-32C), the format TensorBoard's EventFileLoader reads.
// Torch-free.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace imp::train {

uint32_t crc32c(const void* data, size_t size);

class TensorBoardWriter {
 public:
  // Creates <dir>/events.out.tfevents.<seconds>.<host>.<pid>.0 with the file_version record.
  explicit TensorBoardWriter(const std::string& dir);
  void scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& payload);
  std::string path_;
  std::ofstream out_;
};

// A scalar read back from an event file (for tests and tools).
struct ScalarEvent {
  std::string tag;
  int64_t step = 0;
  float value = 0;
};
// Reads every scalar of an event file, checking the framing and both CRCs of every record.
std::vector<ScalarEvent> read_tensorboard_scalars(const std::string& path);

}  // namespace imp::train
