// `imp data check` and `imp data dump`: validate a LLaVA-format dataset the way training will read it,
// and write what each sample becomes (ids, labels, pixels).
#pragma once

#include <string>

namespace imp::cli {

struct DataOptions {
  std::string data_path;
  std::string image_folder;
  std::string model;          // model directory: tokenizer, image size and aspect ratio from it
  std::string tokenizer;      // or a tokenizer directory / tokenizer.json
  std::string version = "phi2";
  int64_t model_max_length = 3072;
  std::string image_aspect_ratio;  // default: the model's config, else square
  int64_t image_size = 0;          // default: the model's vision tower, else 384
  int64_t image_tokens = 0;        // patches per image, for the length check (default from the model, else 729)
  bool text_only = false;
  int num_workers = 2;
  double max_bad_fraction = 0.01;
  double max_masked_fraction = 1.0;  // check: fail when more samples lose all labels (tokenization mismatch)
  std::string bad_samples;          // check: where to write bad_samples.jsonl
  std::string output;               // dump: JSON Lines
  std::string pixels;               // dump: safetensors with one [3,S,S] tensor per sample id
  int64_t limit = -1;               // dump: first N samples
};

int run_data_check(const DataOptions& o);
int run_data_dump(const DataOptions& o);

}  // namespace imp::cli
