// SupervisedDataset and collate; see dataset.h (imp-reference 3.2, 5.6; train.py LazySupervisedDataset
// and DataCollatorForSupervisedDataset).
#include "imp/data/dataset.h"

#include <iostream>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/image/image.h"

namespace imp::data {
namespace {

image::AspectMode aspect_mode(const std::string& s) {
  if (s == "square") return image::AspectMode::square;
  if (s == "pad") return image::AspectMode::pad;
  if (s == "crop") return image::AspectMode::crop;
  throw Error("image_aspect_ratio '" + s + "' is not supported; expected square, pad or crop", ErrorKind::usage);
}

}  // namespace

SupervisedDataset::SupervisedDataset(DataArgs args, std::shared_ptr<const text::Tokenizer> tokenizer)
    : args_(std::move(args)), tok_(std::move(tokenizer)), records_(RecordFile::open(args_.data_path)) {
  aspect_mode(args_.image_aspect_ratio);  // validate early
}

Sample SupervisedDataset::get(size_t i) const {
  const Record r = records_.get(i);
  Sample s;
  s.index = static_cast<int64_t>(i);
  s.id = r.id;
  s.has_image = r.image.has_value();
  const auto size = args_.image_size;
  if (s.has_image) {
    IMP_CHECK(args_.multimodal, "sample '", r.id, "' has an image but the run is text-only");
    const std::string path = join_path(args_.image_folder, *r.image);
    image::ProcessorConfig cfg;
    cfg.size = static_cast<int>(size);
    auto pixels = image::process(image::decode_file(path), aspect_mode(args_.image_aspect_ratio), cfg);
    s.pixel_values = torch::from_blob(pixels.data(), {3, size, size}, torch::kFloat32).clone();
  } else if (args_.multimodal) {
    s.pixel_values = torch::zeros({3, size, size});
  }
  Encoded e = preprocess(r, *tok_, args_.text);
  if (s.has_image) {
    const auto n_image = std::count(e.input_ids.begin(), e.input_ids.end(), int64_t{-200});
    IMP_CHECK(n_image == 1, "sample '", r.id, "' has one image but ", n_image,
              " <image> markers in its conversation (exactly one is needed)");
  }
  s.input_ids = std::move(e.input_ids);
  s.labels = std::move(e.labels);
  s.mismatch = e.mismatch;
  return s;
}

Sample SupervisedDataset::get_or_substitute(size_t i) const {
  for (size_t k = 0; k < size(); ++k) {
    const size_t j = (i + k) % size();
    try {
      return get(j);
    } catch (const Error& e) {
      std::lock_guard<std::mutex> lock(bad_mutex_);
      bool seen = false;
      for (const auto& b : bad_) seen = seen || b.first == j;
      if (!seen) {
        bad_.emplace_back(j, e.what());
        std::cerr << "imp: warning: bad sample " << j << " replaced by the next good one: " << e.what() << "\n";
      }
    }
  }
  IMP_FAIL(args_.data_path, ": no sample could be loaded (", size(), " records); run `imp data check` on it");
}

size_t SupervisedDataset::bad_count() const {
  std::lock_guard<std::mutex> lock(bad_mutex_);
  return bad_.size();
}

Batch collate(const std::vector<Sample>& samples, const TextSettings& text) {
  IMP_CHECK(!samples.empty(), "collate: empty batch");
  size_t longest = 0;
  for (const auto& s : samples) longest = std::max(longest, s.input_ids.size());
  const int64_t len = std::min<int64_t>(static_cast<int64_t>(longest), text.model_max_length);
  const int64_t b = static_cast<int64_t>(samples.size());
  Batch out;
  out.input_ids = torch::full({b, len}, text.pad_id, torch::kInt64);
  out.labels = torch::full({b, len}, int64_t{-100}, torch::kInt64);
  auto ids = out.input_ids.accessor<int64_t, 2>();
  auto labels = out.labels.accessor<int64_t, 2>();
  std::vector<torch::Tensor> pixels;
  for (int64_t i = 0; i < b; ++i) {
    const auto& s = samples[i];
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(s.input_ids.size()), len);
    for (int64_t t = 0; t < n; ++t) ids[i][t] = s.input_ids[t], labels[i][t] = s.labels[t];
    if (s.pixel_values.defined()) pixels.push_back(s.pixel_values);
    out.indices.push_back(s.index);
  }
  // As Imp's collator: every token equal to the pad id is masked, real ones included.
  out.attention_mask = out.input_ids.ne(text.pad_id).to(torch::kInt64);
  if (!pixels.empty()) {
    IMP_CHECK(pixels.size() == samples.size(), "collate: some samples have pixels and some do not");
    out.pixel_values = torch::stack(pixels);
  }
  return out;
}

}  // namespace imp::data
