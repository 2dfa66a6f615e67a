// `imp inspect PATH`: what a model directory, adapter directory or safetensors file holds.
#include <iomanip>
#include <iostream>
#include <map>

#include "imp/cli/commands.h"
#include "imp/core/build_info.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/io/safetensors.h"
#include "imp/io/torch_pickle.h"
#include "imp/models/config.h"

namespace imp::cli {
namespace {

std::string component_of(const std::string& name) {
  if (name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos) return "LoRA adapter";
  if (name.find("vision_tower.") != std::string::npos || name.rfind("vision_model.", 0) == 0) return "vision tower";
  if (name.find("mm_projector.") != std::string::npos) return "projector";
  if (name.find("lm_head.") != std::string::npos) return "lm_head";
  if (name.find("embed_tokens.") != std::string::npos) return "token embedding";
  return "decoder";
}

std::string human(double n) {
  const char* units[] = {"", "K", "M", "B"};
  int u = 0;
  while (n >= 1000 && u < 3) n /= 1000, ++u;
  std::ostringstream s;
  s << std::setprecision(n < 10 ? 3 : 4) << n << units[u];
  return s.str();
}

void print_tensors(const std::vector<const st::TensorInfo*>& tensors, const std::vector<std::string>& shards,
                   const std::vector<uint64_t>& shard_bytes) {
  std::map<std::string, int64_t> params, dtypes;
  int64_t total = 0;
  for (const auto* t : tensors) {
    params[component_of(t->name)] += t->numel();
    dtypes[st::dtype_name(t->dtype)] += 1;
    total += t->numel();
  }
  std::cout << "tensors: " << tensors.size() << " (";
  bool first = true;
  for (const auto& [d, n] : dtypes) std::cout << (first ? "" : ", ") << n << " " << d, first = false;
  std::cout << ")\nparameters: " << human(static_cast<double>(total)) << " (" << total << ")\n";
  for (const auto& [c, n] : params)
    std::cout << "  " << std::left << std::setw(16) << c << std::right << std::setw(10) << human(static_cast<double>(n))
              << "\n";
  std::cout << "files:\n";
  for (size_t i = 0; i < shards.size(); ++i)
    std::cout << "  " << shards[i] << "  " << human(static_cast<double>(shard_bytes[i])) << "B\n";
}

std::vector<pkl::File> open_one(const std::string& path) {
  std::vector<pkl::File> files;
  files.push_back(pkl::File::open(path));
  return files;
}

// The tensors of torch.save files, listed like those of safetensors shards.
void print_pickles(const std::vector<pkl::File>& files) {
  std::vector<st::TensorInfo> infos;
  std::vector<std::string> names;
  std::vector<uint64_t> bytes;
  for (const auto& f : files) {
    for (const auto& t : f.checkpoint.tensors) infos.push_back({t.name, t.dtype, t.shape, 0, t.nbytes()});
    names.push_back(f.map.path().substr(f.map.path().find_last_of('/') + 1) +
                    (f.checkpoint.zip ? " (torch.save zip)" : " (torch.save legacy)"));
    bytes.push_back(f.map.size());
  }
  std::vector<const st::TensorInfo*> tensors;
  for (const auto& t : infos) tensors.push_back(&t);
  print_tensors(tensors, names, bytes);
}

}  // namespace

int run_inspect(const InspectOptions& o) {
  if (o.env) {
    std::cout << build_info_report();
    return 0;
  }
  std::vector<const st::TensorInfo*> tensors;
  std::vector<std::string> shards;
  std::vector<uint64_t> bytes;
  if (!is_directory(o.path)) {
    IMP_CHECK_KIND(path_exists(o.path), ErrorKind::io, o.path, ": no such file or directory");
    const MappedFile m = MappedFile::open(o.path);
    if (pkl::looks_like_torch_save(m.data(), m.size())) {
      std::cout << o.path << ": torch.save file\n";
      print_pickles(open_one(o.path));
      return 0;
    }
    auto f = st::File::open(o.path);
    for (const auto& t : f.header().tensors) tensors.push_back(&t);
    std::cout << o.path << ": safetensors file\n";
    for (const auto& [k, v] : f.header().metadata) std::cout << "metadata " << k << " = " << v << "\n";
    print_tensors(tensors, {o.path}, {f.header().data_start + (tensors.empty() ? 0 : tensors.back()->end)});
    return 0;
  }
  const std::string adapter_cfg = join_path(o.path, "adapter_config.json");
  if (path_exists(adapter_cfg)) {
    Json j = read_json_file(adapter_cfg, json_limits::adapter_config);
    std::cout << o.path << ": PEFT adapter (" << json_or<std::string>(j, "peft_type", "?") << ", r "
              << json_or<int64_t>(j, "r", 0) << ", lora_alpha " << json_or<double>(j, "lora_alpha", 0)
              << ", dropout " << json_or<double>(j, "lora_dropout", 0) << ")\n  target_modules "
              << j.value("target_modules", Json::array()).dump() << "\n  base_model_name_or_path "
              << json_or<std::string>(j, "base_model_name_or_path", "?") << "\n";
    const std::string w = join_path(o.path, "adapter_model.safetensors"), bin = join_path(o.path, "adapter_model.bin");
    if (path_exists(w)) {
      auto f = st::File::open(w);
      for (const auto& t : f.header().tensors) tensors.push_back(&t);
      print_tensors(tensors, {"adapter_model.safetensors"}, {f.header().data_start + (tensors.empty() ? 0 : tensors.back()->end)});
    } else if (path_exists(bin)) {
      print_pickles(open_one(bin));
    }
    return 0;
  }
  if (path_exists(join_path(o.path, "config.json"))) {
    auto cfg = ModelConfig::load(o.path);
    std::cout << o.path << ": " << cfg.summary() << "\n";
  }
  if (pkl::only_torch_save_in(o.path)) {
    print_pickles(pkl::open_dir(o.path));
    return 0;
  }
  auto files = st::open_dir(o.path);
  for (const auto& [name, where] : files.by_name) tensors.push_back(where.second);
  for (const auto& f : files.files) {
    const auto& ts = f.header().tensors;
    shards.push_back(f.path().substr(f.path().find_last_of('/') + 1));
    bytes.push_back(f.header().data_start + (ts.empty() ? 0 : ts.back().end));
  }
  print_tensors(tensors, shards, bytes);
  return 0;
}

}  // namespace imp::cli
