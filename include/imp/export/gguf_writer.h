// GGUF (version 3) writer, format only: typed key/values, then tensor infos, then the tensor data, each
// aligned to general.alignment (32). Little-endian. The names and keys are llama.cpp's (PyPI gguf's
// constants); what goes into a file is decided by export/ (export_gguf.cpp, the *_map.cpp files). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace imp::gguf {

// ggml tensor types imp writes (values of ggml_type / gguf.GGMLQuantizationType).
enum class TensorType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, Q4_K = 12 };
const char* type_name(TensorType t);

// llama_ftype (general.file_type): the type of most weights.
enum class FileType : uint32_t { all_f32 = 0, mostly_f16 = 1, mostly_q4_0 = 2, mostly_q8_0 = 7, mostly_q4_k_s = 14 };

using Value = std::variant<uint32_t, int32_t, float, bool, std::string, uint64_t, std::vector<std::string>,
                           std::vector<int32_t>, std::vector<float>>;

class Writer {
 public:
  void set(const std::string& key, Value value);  // keys are written in the order first set
  // shape in PyTorch order ([rows, cols]); GGUF stores it reversed (ne[0] = the contiguous dimension).
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, TensorType type, std::vector<uint8_t> data);
  // Writes "<path>.tmp.<pid>" and renames it to path; throws imp::Error(io) naming the path.
  void write(const std::string& path) const;
  size_t tensor_count() const { return tensors_.size(); }
  static constexpr uint64_t kAlignment = 32;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    TensorType type;
    std::vector<uint8_t> data;
  };
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace imp::gguf
