// StateDict (name -> tensor) read from and written to HF-layout safetensors files and directories,
// and strict loading into a module tree whose parameter names equal the HF weight names.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace imp {

using StateDict = std::map<std::string, torch::Tensor>;

// HF's save_pretrained default shard limit for merged models ("1024MB", counted decimally).
constexpr uint64_t kDefaultMaxShardBytes = 1024ull * 1000 * 1000;

StateDict load_safetensors(const std::string& file);
// Reads a torch.save file (zip or legacy format) without running code: see imp/io/torch_pickle.h.
StateDict load_torch_pickle(const std::string& file);
// A safetensors or torch.save file, told apart by its first bytes (not its name).
StateDict load_weights_file(const std::string& file);
// Reads "<dir>/model.safetensors" or the shards named by "<dir>/model.safetensors.index.json", else
// (as transformers does) "<dir>/pytorch_model.bin" or the shards of "pytorch_model.bin.index.json".
StateDict load_model_dir(const std::string& dir);
void save_safetensors(const std::string& file, const StateDict& sd);
// Writes HF layout: one model.safetensors, or shards + index when over max_shard_bytes.
void save_model_dir(const std::string& dir, const StateDict& sd,
                    uint64_t max_shard_bytes = kDefaultMaxShardBytes);

// Renames keys starting with `from` to start with `to`; other keys are kept unchanged.
StateDict rename_prefix(const StateDict& sd, const std::string& from, const std::string& to);

struct LoadOptions {
  bool strict = true;                          // missing, unexpected or mis-shaped tensors throw
  std::vector<std::string> ignore_prefixes;    // checkpoint keys with these prefixes are skipped silently
  std::vector<std::string> optional_prefixes;  // module parameters with these prefixes may be missing
};

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the checkpoint
  std::vector<std::string> unexpected;  // in the checkpoint, not in the module
  std::vector<std::string> mismatched;  // "name: checkpoint [a,b] vs model [c,d]"
  size_t loaded = 0;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string describe(size_t max_items = 10) const;
};

// Copies checkpoint tensors into the module's parameters and buffers (converting dtype/device).
// With strict, throws an imp::Error listing what is missing, unexpected and mis-shaped; `origin`
// (usually the checkpoint path) starts the message.
LoadReport load_into(torch::nn::Module& module, const StateDict& sd, const std::string& origin,
                     const LoadOptions& options = {});

// Named parameters and persistent buffers of a module, as a StateDict (no copies).
StateDict module_state(const torch::nn::Module& module);

}  // namespace imp
