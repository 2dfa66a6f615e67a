// Loading a model for inference; see session.h.
#include "imp/eval/session.h"

#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/models/lora.h"
#ifdef IMP_WITH_OPENCV
#include "imp/image/image.h"
#endif

namespace imp::eval {
namespace {

bool has_tokenizer_files(const std::string& dir) {
  return path_exists(join_path(dir, "tokenizer.json")) || path_exists(join_path(dir, "vocab.json"));
}

torch::Tensor to_pixels(const std::vector<float>& chw, int64_t size) {
  return torch::from_blob(const_cast<float*>(chw.data()), {1, 3, size, size}, torch::kFloat32).clone();
}

}  // namespace

std::string default_conv_mode(Arch arch) {
  switch (arch) {
    case Arch::phi2: return "phi2";
    case Arch::qwen2: return "qwen2";
    case Arch::phi3: return "phi3";
  }
  return "phi2";
}

Session Session::open(const SessionOptions& o) {
  IMP_CHECK_KIND(!o.model_path.empty(), ErrorKind::usage, "--model-path (the model directory) is required");
  Session s;
  s.model_dir = o.model_base.empty() ? o.model_path : o.model_base;
  IMP_CHECK_KIND(is_directory(s.model_dir), ErrorKind::io, s.model_dir, ": no such model directory");
  if (!o.model_base.empty())
    IMP_CHECK_KIND(is_directory(o.model_path), ErrorKind::io, o.model_path, ": no such adapter directory");

  const std::string dev_name = o.device == "auto" ? (torch::cuda::is_available() ? "cuda" : "cpu") : o.device;
  LoadSpec spec;
  spec.device = parse_device(dev_name);
  spec.dtype = o.dtype == "auto" ? (spec.device.is_cuda() ? torch::kFloat16 : torch::kFloat32) : parse_dtype(o.dtype);
  check_dtype_supported(spec.dtype, spec.device);
  spec.attention = nn::parse_attention_impl(o.attn_implementation);

  s.model = ImpModel::from_pretrained(s.model_dir, spec);
  IMP_CHECK_KIND(s.model->lm, ErrorKind::usage, s.model_dir, " holds a vision tower only; generation needs an Imp model");
  if (!o.model_base.empty()) {
    load_lora_adapter(*s.model, o.model_path);
    merge_lora(s.model->root());
  }
  s.model->root().eval();
  s.arch = s.model->config().text.arch;

  // The adapter directory's tokenizer when it has one (training saves it there), else the base's.
  const std::string tok_dir = has_tokenizer_files(o.model_path) ? o.model_path : s.model_dir;
  IMP_CHECK_KIND(has_tokenizer_files(tok_dir), ErrorKind::input, tok_dir,
                 ": no tokenizer (tokenizer.json or vocab.json + merges.txt)",
                 "\nhint: copy the tokenizer files of the training run into the model directory");
  s.tokenizer = text::Tokenizer::from_path(tok_dir);
  // Imp's Phi-2 models end answers with the "</s>" it adds at training time; a base phi-2 tokenizer
  // lacks it (imp-reference 8 #30), so add it the way train.py does.
  if (s.arch == Arch::phi2 && !s.tokenizer->token_to_id("</s>")) s.tokenizer->add_special_token("</s>");

  s.ids = read_generation_ids(s.model_dir);
  if (s.ids.eos.empty()) s.ids.eos = s.model->config().text.eos_token_ids;
  return s;
}

torch::Tensor Session::pixels_from_file(const std::string& path, bool aspect) const {
#ifdef IMP_WITH_OPENCV
  const auto& c = model->config();
  image::ProcessorConfig pc;
  pc.size = static_cast<int>(c.vision.image_size);
  const auto mode = aspect ? image::parse_aspect_mode(c.image_aspect_ratio) : image::AspectMode::square;
  return to_pixels(image::process(image::decode_file(path), mode, pc), pc.size);
#else
  (void)aspect;
  IMP_FAIL(path, ": this imp was built without image support (OpenCV)");
#endif
}

torch::Tensor Session::pixels_from_bytes(const std::string& bytes, const std::string& origin, bool aspect) const {
#ifdef IMP_WITH_OPENCV
  const auto& c = model->config();
  image::ProcessorConfig pc;
  pc.size = static_cast<int>(c.vision.image_size);
  const auto mode = aspect ? image::parse_aspect_mode(c.image_aspect_ratio) : image::AspectMode::square;
  const auto img = image::decode_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), origin);
  return to_pixels(image::process(img, mode, pc), pc.size);
#else
  (void)bytes, (void)aspect;
  IMP_CHECK_KIND(false, ErrorKind::usage, origin, ": this imp was built without image support (OpenCV)");
#endif
}

}  // namespace imp::eval
