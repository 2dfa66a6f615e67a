// LLaVA-format dataset files: a JSON list of {"id", "image"?, "conversations": [{"from", "value"}]}.
// RecordFile scans the whole list once (fast, memory bounded by the file) to find each record's byte
// span and modality length, and parses a record only when asked. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imp/core/json.h"
#include "imp/data/conversation.h"

namespace imp::data {

// Validates and converts one record; errors (imp::Error, input) name `origin` and what is wrong.
Record parse_record(const Json& j, const std::string& origin);

// Finds the byte spans [begin, end) of the elements of a top-level JSON array. Throws with
// line:column for anything that is not a well-formed array (the elements are checked when parsed).
std::vector<std::pair<size_t, size_t>> scan_json_array(const char* data, size_t size, const std::string& origin);

class RecordFile {
 public:
  // Reads `path`. Imp's two hand deletions apply when the path contains "llava_v1_5_mix665k.json".
  static RecordFile open(const std::string& path);
  size_t size() const { return spans_.size(); }
  // Parses record i (throws imp::Error naming the file, index and problem for a malformed record).
  Record get(size_t i) const;
  // The record's "id" when its JSON parses, even if the record is otherwise invalid; else "".
  std::string id_of(size_t i) const;
  // LazySupervisedDataset.modality_lengths: words of all turns, +700 with an image, negated for
  // text-only records; 0 for records that do not parse.
  const std::vector<int64_t>& modality_lengths() const { return lengths_; }
  const std::string& path() const { return path_; }

 private:
  Json json(size_t i, const std::string& origin) const;
  std::string path_, text_;
  std::vector<std::pair<size_t, size_t>> spans_;
  std::vector<int64_t> lengths_;
};

}  // namespace imp::data
