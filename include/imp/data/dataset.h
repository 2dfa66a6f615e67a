// SupervisedDataset (Imp's LazySupervisedDataset): record -> input_ids, labels and pixels, processed
// lazily per sample; collate (right padding, truncation, attention mask); bad-sample accounting.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/data/preprocess.h"
#include "imp/data/records.h"

namespace imp::data {

struct DataArgs {
  std::string data_path;
  std::string image_folder;
  std::string image_aspect_ratio = "square";  // square | pad | crop
  int64_t image_size = 384;                   // the vision tower's image_size
  bool multimodal = true;                     // text-only samples get a zero image, as in Imp
  TextSettings text;
};

struct Sample {
  int64_t index = -1;
  std::string id;
  std::vector<int64_t> input_ids, labels;
  torch::Tensor pixel_values;  // [3,S,S] float32; zeros for a text-only sample of a multimodal run
  bool has_image = false;
  bool mismatch = false;       // labels fully masked by the tokenization-mismatch rule
};

struct Batch {
  torch::Tensor input_ids;       // int64 [B,T], right-padded with pad_id, cut to model_max_length
  torch::Tensor labels;          // int64 [B,T], -100 padded
  torch::Tensor attention_mask;  // int64 [B,T] = input_ids != pad_id (as Imp's collator)
  torch::Tensor pixel_values;    // float32 [B,3,S,S] (multimodal runs)
  std::vector<int64_t> indices;  // dataset indices, for logging and resume checks
};

class SupervisedDataset {
 public:
  SupervisedDataset(DataArgs args, std::shared_ptr<const text::Tokenizer> tokenizer);
  size_t size() const { return records_.size(); }
  const std::vector<int64_t>& modality_lengths() const { return records_.modality_lengths(); }
  const DataArgs& args() const { return args_; }
  const RecordFile& records() const { return records_; }

  // Sample i; throws imp::Error naming the sample and the problem (bad JSON record, missing or
  // corrupt image, bad conversation).
  Sample get(size_t i) const;
  // Sample i, or, if it is bad, the next good sample after it (wrapping): the same substitute on
  // every run and rank. Bad samples are counted and reported once each.
  Sample get_or_substitute(size_t i) const;
  size_t bad_count() const;

 private:
  DataArgs args_;
  std::shared_ptr<const text::Tokenizer> tok_;
  RecordFile records_;
  mutable std::mutex bad_mutex_;
  mutable std::vector<std::pair<size_t, std::string>> bad_;  // (index, reason), first time seen
};

Batch collate(const std::vector<Sample>& samples, const TextSettings& text);

}  // namespace imp::data
