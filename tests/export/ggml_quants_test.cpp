// ggml encodings: f16 conversion bit-exact with LibTorch's Half (round to nearest even, subnormals, overflow),
// Q8_0/Q4_0 blocks by hand, and the GGUF header layout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include "imp/core/error.h"
#include "imp/export/arch_map.h"
#include "imp/export/ggml_quants.h"

namespace imp::gguf {
namespace {

TEST(F16, MatchesLibTorchHalfBitForBit) {
  torch::manual_seed(0);
  auto x = torch::cat({torch::randn({20000}) * 3, torch::randn({20000}) * 1e-5, torch::randn({2000}) * 7e4,
                       torch::tensor({0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 5.96e-8f, 2.98e-8f, 6.1e-5f,
                                      std::numeric_limits<float>::infinity()})});
  auto want = x.to(torch::kFloat16);
  const float* xp = x.data_ptr<float>();
  const auto* wp = reinterpret_cast<const uint16_t*>(want.data_ptr<at::Half>());
  int bad = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (f32_to_f16(xp[i]) != wp[i] && ++bad < 5) ADD_FAILURE() << xp[i] << ": " << f32_to_f16(xp[i]) << " vs " << wp[i];
    if (std::isfinite(xp[i]) && std::fabs(xp[i]) < 65504) {
      EXPECT_EQ(f16_to_f32(wp[i]), static_cast<float>(want[i].item<at::Half>()));
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(Blocks, Q8_0AndQ4_0ByHand) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16) / 4;  // -4 .. 3.75
  auto q8 = encode(x.data(), 32, TensorType::Q8_0);
  ASSERT_EQ(q8.size(), 34u);
  uint16_t d;
  std::memcpy(&d, q8.data(), 2);
  EXPECT_EQ(d, f32_to_f16(4.0f / 127));
  EXPECT_EQ(static_cast<int8_t>(q8[2]), -127);            // -4 / (4/127)
  EXPECT_EQ(static_cast<int8_t>(q8[2 + 31]), 119);        // 3.75 * 127 / 4 = 119.06
  auto q4 = encode(x.data(), 32, TensorType::Q4_0);
  ASSERT_EQ(q4.size(), 18u);
  std::memcpy(&d, q4.data(), 2);
  EXPECT_EQ(d, f32_to_f16(0.5f));                        // max = -4 (largest magnitude), d = -4 / -8
  EXPECT_EQ(q4[2] & 15, 0);                              // -4 / 0.5 + 8.5 = 0.5 -> 0
  EXPECT_EQ(q4[2] >> 4, 8);                              // x[16] = 0 -> 8
  EXPECT_EQ(q4[2 + 15] >> 4, 15);                        // x[31] = 3.75 -> 7.5 + 8.5 = 16 -> clamped 15
  EXPECT_THROW(encode(x.data(), 31, TensorType::Q4_0), Error);
}

TEST(Writer, HeaderLayoutAndAlignment) {
  Writer w;
  w.set("general.architecture", std::string("phi2"));
  w.set("phi2.block_count", uint32_t{3});
  std::vector<float> v = {1, 2, 3};
  w.add_tensor("a", {3}, TensorType::F32, encode(v.data(), 3, TensorType::F32));
  w.add_tensor("b", {1, 3}, TensorType::F32, encode(v.data(), 3, TensorType::F32));
  EXPECT_THROW(w.add_tensor("a", {3}, TensorType::F32, {}), Error);
  const auto path = (std::filesystem::temp_directory_path() / ("imp_gguf_" + std::to_string(::getpid()))).string();
  w.write(path);
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), {});
  std::filesystem::remove(path);
  ASSERT_GE(b.size(), 24u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "GGUF");
  uint32_t version;
  uint64_t n_tensors, n_kv;
  std::memcpy(&version, &b[4], 4);
  std::memcpy(&n_tensors, &b[8], 8);
  std::memcpy(&n_kv, &b[16], 8);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(n_tensors, 2u);
  EXPECT_EQ(n_kv, 2u);
  // data: tensor a (12 bytes, padded to 32), then b; the file ends after b's padding
  EXPECT_EQ(b.size() % Writer::kAlignment, 0u);
  float last;
  std::memcpy(&last, &b[b.size() - 32 + 8], 4);
  EXPECT_EQ(last, 3.0f);
}

TEST(ArchMap, Names) {
  EXPECT_EQ(gguf_tensor_name(phi2_map(), "model.layers.12.self_attn.dense.bias"), "blk.12.attn_output.bias");
  EXPECT_EQ(gguf_tensor_name(phi2_map(), "lm_head.bias"), "output.bias");
  EXPECT_EQ(gguf_tensor_name(qwen2_map(), "model.layers.0.mlp.gate_proj.weight"), "blk.0.ffn_gate.weight");
  EXPECT_EQ(gguf_tensor_name(phi3_map(), "model.layers.1.self_attn.qkv_proj.weight"), "blk.1.attn_qkv.weight");
  EXPECT_EQ(gguf_tensor_name(phi3_map(), "model.mm_projector.0.weight"), "");
  EXPECT_EQ(gguf_tensor_name(phi3_map(), "model.layers.1.self_attn.q_proj.weight"), "");
}

}  // namespace
}  // namespace imp::gguf
