// ggml encodings: f16 conversion bit-exact with LibTorch's Half (round to nearest even, subnormals, overflow),
// Q8_0/Q4_0 blocks by hand, Q4_K against ggml's reference bytes, and the GGUF header layout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
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

// Q4_K against bytes written by ggml's own quantize_row_q4_K_ref (libggml-base of llama-cpp-python 0.3.36,
// through ctypes: tests/export/ggml_q4k_reference.py LIB golden) for four blocks: mixed signs, all positive, a
// zero sub-block, outliers.
TEST(Blocks, Q4_KMatchesGgmlReference) {
  std::vector<float> x(1024);
  for (int i = 0; i < 256; ++i) {
    x[i] = static_cast<float>((i * 37) % 101 - 50) / 64;
    x[256 + i] = static_cast<float>((i * 13) % 29) / 16 + 0.25f;
    x[512 + i] = i < 32 ? 0.0f : static_cast<float>((i * 7) % 23 - 11) / 1024;
    x[768 + i] = i % 5 == 0 ? 3.0f : static_cast<float>((i * 11) % 17 - 8) / 256;
  }
  const char* want[] = {
      "de162c22fefffffcfffdfefecfdcfffea0156bc1278cd3489e045ab0167bc2378de349ae056ab1267cd2389de459af15"
      "268ce248ad0459b0157bd1379ce348ae046ac0267bd2379df359be156ac1268c9df359be157ac1268ce248ad0459b015"
      "7bd1379ce348ae046ac0267bd2379df3156ac1268cd2489df459b0157bc1378ce348ae046ab0267bd2379de359ae156a",
      "4f180000fffdfffd000000000f0f0f0d72d85ec74da52b94fa72e86fc74db63c94fa83e96fd85eb63ca52b83f972d85e"
      "2b94fa72e86fc74db63c94fa83e96fd85eb63ca52b83f972d85ec74da52b94fac74da63c94fa83e96fc85eb63c952b83"
      "e972d85eb74da52b84fa72d86fc74da683e96fd85eb63ca52b83f972d85ec74da52b94fa72e86fc74db63c94fa83e96f",
      "84019509c0feffffc0ffffffedfffdffc01050a0f04090e03070c01060b00050a0e03080d02070c01050a0f04090e030"
      "378cd1267bb01559aef3489dd2377bc1156abf04599de3378cd1267bb01559aebf04599ee3378cd1267bb0155aaef348"
      "9dd2377cc1156abf04599ee3378cd126377cc1166abf04599ee3388cd1267bb0155aaff3489dd2377cc1166abf04599e",
      "f91a7703fffbffff0046403f0fbf1f0f0e0000f0000e0000f0000e0000f0000e0000f0000e0000f0000e0000f0000e00"
      "000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0000ee0000e0000e0000e0000e0000e0000e0"
      "000e0000e0000e0000e0000e0000e00000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0000e0",
  };
  const auto got = encode(x.data(), x.size(), TensorType::Q4_K);
  ASSERT_EQ(got.size(), 4u * 144);
  for (int b = 0; b < 4; ++b) {
    std::ostringstream hex;
    for (int i = 0; i < 144; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << int{got[144 * b + i]};
    EXPECT_EQ(hex.str(), want[b]) << "block " << b;
  }
  EXPECT_THROW(encode(x.data(), 255, TensorType::Q4_K), Error);
  EXPECT_EQ(row_type(TensorType::Q4_K, 512), TensorType::Q4_K);
  EXPECT_EQ(row_type(TensorType::Q4_K, 128), TensorType::Q8_0);  // rows of 128: whole Q8_0 blocks only
  EXPECT_EQ(row_type(TensorType::Q4_K, 100), TensorType::F16);
  EXPECT_EQ(row_type(TensorType::Q4_0, 100), TensorType::F16);
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
