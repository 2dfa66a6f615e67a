// `imp data check` / `imp data dump`; see cli/data.h.
#include "imp/cli/data.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/data/dataset.h"
#include "imp/io/state_dict.h"
#include "imp/models/config.h"

namespace imp::cli {
namespace {

struct Setup {
  std::shared_ptr<text::Tokenizer> tok;
  data::DataArgs args;
  int64_t image_tokens = 729;
};

Setup setup(const DataOptions& o) {
  IMP_CHECK_KIND(!o.data_path.empty(), ErrorKind::usage, "--data_path is required");
  IMP_CHECK_KIND(o.model.empty() != o.tokenizer.empty(), ErrorKind::usage, "give exactly one of --model and --tokenizer");
  Setup s;
  s.tok = text::Tokenizer::from_path(o.model.empty() ? o.tokenizer : o.model);
  s.args.data_path = o.data_path;
  s.args.image_folder = o.image_folder;
  s.args.multimodal = !o.text_only;
  s.args.image_aspect_ratio = "square";
  if (!o.model.empty()) {
    auto cfg = ModelConfig::load(o.model);
    if (cfg.kind == ModelKind::multimodal) {
      s.args.image_aspect_ratio = cfg.image_aspect_ratio;
      s.args.image_size = cfg.vision.image_size;
      s.image_tokens = cfg.vision.num_patches();
    }
  }
  if (!o.image_aspect_ratio.empty()) s.args.image_aspect_ratio = o.image_aspect_ratio;
  if (o.image_size > 0) s.args.image_size = o.image_size;
  if (o.image_tokens > 0) s.image_tokens = o.image_tokens;
  s.args.text = data::prepare_tokenizer(*s.tok, o.version, o.model_max_length);
  return s;
}

// A reason without its location and details, for grouping: "images/x.png: no such file: ..." ->
// "no such file", "sample 'a': roles do not alternate human/gpt at turn 3" -> "roles do not alternate human/gpt".
std::string category(const std::string& reason) {
  std::string r = reason.substr(0, reason.find('\n'));
  const auto colon = r.find(": ");
  if (colon != std::string::npos) r = r.substr(colon + 2);
  for (const char* cut : {": ", " (", " at turn"}) r = r.substr(0, r.find(cut));
  return r;
}

}  // namespace

int run_data_check(const DataOptions& o) {
  Setup s = setup(o);
  data::SupervisedDataset ds(s.args, s.tok);
  const size_t n = ds.size();
  struct Result {
    std::string id, error;
    int64_t length = 0, supervised = 0;
    bool image = false, mismatch = false;
  };
  std::vector<Result> results(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;) {
      Result& r = results[i];
      try {
        auto sample = ds.get(i);
        r.id = sample.id;
        r.image = sample.has_image;
        r.mismatch = sample.mismatch;
        r.length = static_cast<int64_t>(sample.input_ids.size()) + (sample.has_image ? s.image_tokens - 1 : 0);
        r.supervised = std::count_if(sample.labels.begin(), sample.labels.end(), [](int64_t l) { return l != -100; });
      } catch (const Error& e) {
        r.error = e.what();
        r.id = ds.records().id_of(i);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, o.num_workers); ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();

  std::map<std::string, std::vector<size_t>> bad;
  std::vector<size_t> masked, too_long;
  int64_t images = 0, min_len = INT64_MAX, max_len = 0, total_len = 0, total_sup = 0, good = 0;
  std::string lines;
  for (size_t i = 0; i < n; ++i) {
    const auto& r = results[i];
    if (!r.error.empty()) {
      bad[category(r.error)].push_back(i);
      lines += Json{{"index", i}, {"id", r.id}, {"reason", r.error}}.dump() + "\n";
      continue;
    }
    ++good;
    images += r.image;
    if (r.mismatch) masked.push_back(i);
    if (r.length > o.model_max_length) too_long.push_back(i);
    min_len = std::min(min_len, r.length);
    max_len = std::max(max_len, r.length);
    total_len += r.length;
    total_sup += r.supervised;
  }
  if (!o.bad_samples.empty()) atomic_write(o.bad_samples, lines);

  auto ids = [&](const std::vector<size_t>& v) {
    std::string out;
    for (size_t k = 0; k < v.size() && k < 5; ++k) out += (k ? ", " : "") + ("'" + results[v[k]].id + "' (#" + std::to_string(v[k]) + ")");
    if (v.size() > 5) out += ", ... " + std::to_string(v.size() - 5) + " more";
    return out;
  };
  size_t n_bad = 0;
  for (const auto& [k, v] : bad) n_bad += v.size();
  Json report = {{"data_path", o.data_path}, {"samples", n}, {"good", good}, {"bad", n_bad},
                 {"image_samples", images}, {"text_only_samples", good - images},
                 {"masked_by_mismatch", masked.size()}, {"longer_than_model_max_length", too_long.size()}};
  if (good > 0)
    report["tokens"] = {{"min", min_len}, {"mean", static_cast<double>(total_len) / good}, {"max", max_len},
                        {"supervised_mean", static_cast<double>(total_sup) / good}};
  for (const auto& [k, v] : bad) report["bad_by_reason"][k] = v.size();
  std::cout << report.dump(2) << "\n";

  std::cerr << "imp data check: " << n << " samples: " << good << " good (" << images << " with an image), " << n_bad
            << " bad\n";
  for (const auto& [k, v] : bad) std::cerr << "  bad: " << k << ": " << v.size() << ": " << ids(v) << "\n";
  if (!bad.empty()) {
    const auto& first = results[bad.begin()->second[0]];
    std::cerr << "  e.g. " << first.error << "\n";
  }
  if (!masked.empty())
    std::cerr << "  masked (tokenization mismatch, no loss): " << masked.size() << ": " << ids(masked) << "\n";
  if (!too_long.empty())
    std::cerr << "  longer than --model_max_length " << o.model_max_length << " (truncated): " << too_long.size()
              << ": " << ids(too_long) << "\n";
  if (!o.bad_samples.empty()) std::cerr << "  bad samples written to " << o.bad_samples << "\n";
  const double fraction = n ? static_cast<double>(n_bad) / static_cast<double>(n) : 0.0;
  const double masked_fraction = n ? static_cast<double>(masked.size()) / static_cast<double>(n) : 0.0;
  int rc = 0;
  if (fraction > o.max_bad_fraction) {
    std::cerr << "imp data check: " << fraction * 100 << "% bad samples exceeds --max_bad_fraction "
              << o.max_bad_fraction * 100 << "%\n";
    rc = static_cast<int>(ErrorKind::input);
  }
  if (masked_fraction > o.max_masked_fraction) {
    std::cerr << "imp data check: " << masked_fraction * 100 << "% fully masked samples exceeds --max_masked_fraction "
              << o.max_masked_fraction * 100 << "% (check --version and the tokenizer)\n";
    rc = static_cast<int>(ErrorKind::input);
  }
  return rc;
}

int run_data_dump(const DataOptions& o) {
  IMP_CHECK_KIND(!o.output.empty(), ErrorKind::usage, "--output is required");
  Setup s = setup(o);
  data::SupervisedDataset ds(s.args, s.tok);
  const size_t n = o.limit >= 0 ? std::min<size_t>(ds.size(), static_cast<size_t>(o.limit)) : ds.size();
  std::string lines;
  StateDict pixels;
  for (size_t i = 0; i < n; ++i) {
    auto sample = ds.get(i);
    lines += Json{{"index", i}, {"id", sample.id}, {"input_ids", sample.input_ids}, {"labels", sample.labels},
                  {"mismatch", sample.mismatch}}.dump() + "\n";
    if (!o.pixels.empty() && sample.pixel_values.defined()) {
      const std::string key = sample.id.empty() ? std::to_string(i) : sample.id;
      IMP_CHECK(!pixels.count(key), o.data_path, ": duplicate sample id '", key, "'; --pixels needs unique ids");
      pixels.emplace(key, sample.pixel_values);
    }
  }
  atomic_write(o.output, lines);
  if (!o.pixels.empty()) save_safetensors(o.pixels, pixels);
  std::cerr << "imp data dump: wrote " << n << " samples to " << o.output << (o.pixels.empty() ? "" : " and " + o.pixels)
            << "\n";
  return 0;
}

}  // namespace imp::cli
