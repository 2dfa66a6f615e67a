// `imp demo-data`: writes the demo's synthetic image-text dataset (LLaVA-format stage-1 captions and
// stage-2 conversations, and a held-out model_vqa_loader question file with ground truth). Deterministic
// for a seed. Needs OpenCV (IMP_WITH_OPENCV) to write the PNG images.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace imp::demo {

struct DemoDataOptions {
  std::string out;           // output directory (created)
  uint64_t seed = 0;
  int64_t train = 2000;      // training conversations (~93% with an image; each image also gets a caption)
  int64_t eval = 400;        // evaluation questions, one held-out image each, categories in turn
  int image_size = 64;       // pixels (square)
};

struct DemoDataSummary {
  int64_t train_images = 0, pretrain_samples = 0, finetune_samples = 0;
  std::map<std::string, int64_t> finetune_kinds;   // single, multi, describe, text
  std::map<std::string, int64_t> eval_categories;  // questions per category
  int64_t eval_questions = 0;
  int64_t eval_redrawn = 0;  // evaluation scenes drawn again because they equalled a training scene
};

DemoDataSummary generate_demo_data(const DemoDataOptions& options);

}  // namespace imp::demo
