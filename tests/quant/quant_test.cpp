// Weight-only int8/int4: quantize/dequantize error bounds, the packed layout, the quantized Linear (LibTorch
// kernels and the dequantize fallback) against an fp32 Linear on the dequantized weight, and whole quantized
// model directories: they load, match a model with dequantized weights, and corrupt ones fail clearly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "imp/core/compat.h"
#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/quant/quant_linear.h"
#include "imp/quant/quantize_dir.h"
#include "test_utils.h"

namespace imp::quant {
namespace {

namespace fs = std::filesystem;

QuantConfig cfg(int bits, int64_t group) {
  QuantConfig c;
  c.bits = bits;
  c.group_size = group;
  return c;
}

std::string model_fixture(const std::string& name) { return std::string(IMP_TEST_DATA) + "/models/" + name; }

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("imp_quant_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string path(const std::string& rel) const { return (root_ / rel).string(); }
  fs::path root_;
};

TEST(Quantize, Uint4PackingRoundTripsAndIsLowNibbleFirst) {
  auto q = torch::randint(0, 16, {3, 10}, torch::kInt32);
  auto p = pack_uint4(q);
  ASSERT_EQ(p.scalar_type(), torch::kUInt8);
  EXPECT_EQ(p.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(torch::equal(unpack_uint4(p), q));
  EXPECT_EQ(p[0][0].item<int>(), q[0][0].item<int>() | (q[0][1].item<int>() << 4));
}

// Round to nearest: every weight is within half a step of its group's grid.
TEST(Quantize, ErrorIsAtMostHalfAStepPerGroup) {
  torch::manual_seed(0);
  auto w = torch::randn({48, 256}) * 0.05;
  w[3].zero_();  // an all-zero row must come back exactly
  w.index_put_({torch::rand({48, 256}) < 0.1}, 0.0);  // and so must scattered zeros
  for (auto [bits, group] : std::vector<std::pair<int, int64_t>>{{8, -1}, {8, 32}, {8, 128}, {4, 32}, {4, 64}, {4, 128}}) {
    SCOPED_TRACE("bits " + std::to_string(bits) + " group " + std::to_string(group));
    const auto c = cfg(bits, group);
    const auto q = quantize_weight(w, c);
    const int64_t len = c.group_len(256);
    EXPECT_EQ(q.scales.sizes(), (std::vector<int64_t>{48, 256 / len}));
    auto err = (dequantize_weight(q, c) - w).abs().reshape({48, 256 / len, len}).amax(-1);
    auto wg = w.reshape({48, 256 / len, len});
    auto step = bits == 8 ? wg.abs().amax(-1) / 127 : (wg.amax(-1) - wg.amin(-1)) / 15;
    const double worst = (err - step / 2).max().item<double>();
    EXPECT_LE(worst, 1e-6) << "max excess over half a step";
    EXPECT_EQ(dequantize_weight(q, c)[3].abs().max().item<double>(), 0.0);
    // single zeros inside groups that span zero stay exactly zero (4 bits: the zero point is a level)
    EXPECT_EQ(dequantize_weight(q, c).index({w == 0}).abs().max().item<double>(), 0.0);
    // and not trivially: the error is a real fraction of the step somewhere
    EXPECT_GT((err / step.clamp_min(1e-12)).max().item<double>(), 0.3);
  }
}

TEST(Quantize, RefusesBadShapesAndSettings) {
  EXPECT_THROW(quantize_weight(torch::randn({4, 48}), cfg(4, 32)), Error);  // 48 % 32 != 0
  EXPECT_THROW(quantize_weight(torch::randint(0, 3, {4, 64}), cfg(8, -1)), Error);
  EXPECT_THROW(cfg(4, -1).validate("t"), Error);
  EXPECT_THROW(cfg(3, 32).validate("t"), Error);
  EXPECT_THROW(cfg(8, 16).validate("t"), Error);
  EXPECT_NO_THROW(cfg(8, -1).validate("t"));
}

// The quantized Linear equals an fp32 Linear with the dequantized weight (up to the input dtype's rounding).
TEST(QuantKernel, MatchesLinearOnTheDequantizedWeight) {
  torch::manual_seed(1);
  const int64_t out = 96, in = 256;
  auto w = torch::randn({out, in}) * 0.05;
  auto x = torch::randn({2, 5, in});
  for (auto [bits, group] : std::vector<std::pair<int, int64_t>>{{8, -1}, {8, 64}, {4, 32}, {4, 128}}) {
    for (bool native : {true, false}) {
      for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
        const auto c = cfg(bits, group);
        const auto q = quantize_weight(w, c);
        QuantKernel k(c, out, in, torch::kCPU, native);
        for (auto& [name, t] : k.buffers()) t.copy_(name == "qweight" ? q.qweight : name == "scales" ? q.scales : q.zeros);
        k.prepare();
        const bool expect_native = native && compat::kHasQuantCpuKernels && (bits == 4 || group == -1);  // out % 16 == 0
        SCOPED_TRACE(std::string(kernel_path_name(k.path())) + " bits " + std::to_string(bits) + " group " +
                     std::to_string(group) + " " + c10::toString(dtype));
        EXPECT_EQ(k.path() != KernelPath::dequantize, expect_native);
        auto ref = torch::linear(x.to(dtype).to(torch::kFloat32), dequantize_weight(q, c));
        auto y = k.matmul(x.to(dtype));
        ASSERT_EQ(y.sizes(), ref.sizes());
        EXPECT_EQ(y.scalar_type(), dtype);
        // The fallback computes in the input dtype; the kernels in bf16 (fp32 inputs are rounded to bf16 first).
        const bool fp32_exact = dtype == torch::kFloat32 && k.path() == KernelPath::dequantize;
        const double tol = fp32_exact ? 1e-4 : 0.02 * ref.abs().max().item<double>();
        EXPECT_LE((y.to(torch::kFloat32) - ref).abs().max().item<double>(), tol);
      }
    }
  }
}

// A Linear with a kernel keeps its bias and loses its weight parameter; LoRA is refused.
TEST(QuantKernel, ReplacesTheLinearWeight) {
  nn::Linear lin(64, 8, true);
  const auto c = cfg(4, 32);
  const auto q = quantize_weight(lin->weight, c);
  auto kernel = std::make_shared<QuantKernel>(c, 8, 64, torch::kCPU);
  lin->set_weight_kernel(kernel);
  auto names = module_state(*lin);
  EXPECT_EQ(names.count("weight"), 0u);
  EXPECT_EQ(names.count("qweight") + names.count("scales") + names.count("zeros") + names.count("bias"), 4u);
  StateDict sd = {{"qweight", q.qweight}, {"scales", q.scales}, {"zeros", q.zeros}, {"bias", lin->bias.detach().clone()}};
  load_into(*lin, sd, "test");
  kernel->prepare();
  auto x = torch::randn({3, 64});
  torch::NoGradGuard ng;
  EXPECT_LE((lin(x) - torch::linear(x, dequantize_weight(q, c), lin->bias)).abs().max().item<double>(), 1e-4);
  EXPECT_THROW(lin->add_lora(4, 8, 0), c10::Error);
}

// Whole directories: the quantized model's logits equal those of the fp32 model whose decoder linears hold
// the dequantized weights; everything outside model.layers.* is unchanged.
TEST_F(TempDir, QuantizedDirectoryLoadsAndMatchesDequantizedModel) {
  for (const std::string fixture : {"gen_phi2", "gen_qwen2", "gen_phi3"}) {
    for (int bits : {8, 4}) {
      SCOPED_TRACE(fixture + " bits " + std::to_string(bits));
      QuantizeOptions o;
      o.model = model_fixture(fixture);
      o.output = path(fixture + std::to_string(bits));
      o.bits = bits;
      o.group_size = bits == 8 ? -1 : 32;  // the int8 and int4 kernels (LibTorch >= 2.6)
      o.embedding_bits = 0;                // decoder linears only (embeddings, tower: the next tests)
      o.vision = false;
      const auto report = quantize_model_dir(o);
      EXPECT_GT(report.layers, 0u);
      EXPECT_LT(report.bytes_after, report.bytes_before);
      const Json qc = read_json_file(join_path(o.output, "config.json"))["quantization_config"];
      EXPECT_EQ(qc["bits"], bits);
      EXPECT_EQ(qc["format_version"], kFormatVersion);
      EXPECT_FALSE(fs::exists(o.output + ".tmp." + std::to_string(::getpid())));

      auto ref = ImpModel::from_pretrained(o.model);
      const auto c = QuantConfig::from_json(qc, "t");
      size_t replaced = 0;
      {
        torch::NoGradGuard ng;
        for (auto& [name, t] : module_state(ref->root()))
          if (name.rfind(kQuantizedPrefix, 0) == 0 && t.dim() == 2) {
            t.copy_(dequantize_weight(quantize_weight(t, c), c));
            ++replaced;
          }
      }
      EXPECT_EQ(replaced, report.layers);
      auto qm = ImpModel::from_pretrained(o.output);
      ImpInputs in;
      torch::manual_seed(0);
      in.input_ids = torch::randint(0, 100, {2, 7}, torch::kInt64);
      in.compute_loss = false;
      torch::NoGradGuard ng;
      auto a = ref->forward(in).logits, b = qm->forward(in).logits;
      // the kernels run the quantized layers in bf16 (the fallback would match to 1e-4)
      EXPECT_LE((a - b).abs().max().item<double>(), 0.02 * std::max(1.0, a.abs().max().item<double>()));
      // bf16 load runs too and stays close
      LoadSpec bf;
      bf.dtype = torch::kBFloat16;
      auto qb = ImpModel::from_pretrained(o.output, bf);
      auto c16 = qb->forward(in).logits;
      EXPECT_LE((c16 - b).abs().max().item<double>(), 0.1 * std::max(1.0, b.abs().max().item<double>()));
    }
  }
}

// Embeddings, lm_head (tied or not), the vision tower and the projector: the quantized model equals the fp32
// model holding the dequantized matrices, on text and on an image; the embedding gathers dequantized rows.
TEST_F(TempDir, QuantizedEmbeddingsAndVisionMatchDequantizedModel) {
  struct Case {
    std::string fixture;
    int bits, embedding_bits;
    int64_t group;
  };
  for (const Case& k : std::vector<Case>{{"imp_phi2", 4, 4, 32}, {"imp_phi2", 8, 8, -1}, {"imp_phi2", 4, 8, 32},
                                         {"tied_phi2", 4, 4, 32}, {"tied_phi2", 8, 8, -1}}) {
    SCOPED_TRACE(k.fixture + " bits " + std::to_string(k.bits) + " embedding bits " + std::to_string(k.embedding_bits));
    QuantizeOptions o;
    o.model = model_fixture(k.fixture);
    o.output = path(k.fixture + std::to_string(k.bits) + std::to_string(k.embedding_bits));
    o.bits = k.bits;
    o.group_size = k.group;
    o.embedding_bits = k.embedding_bits;
    const auto report = quantize_model_dir(o);
    EXPECT_EQ(report.row_int8, 0u);
    const StateDict stored = load_model_dir(o.output);
    const bool vision = k.fixture == "imp_phi2";
    const Json qc = read_json_file(join_path(o.output, "config.json"))["quantization_config"];
    EXPECT_EQ(qc["embedding_bits"], k.embedding_bits);
    EXPECT_EQ(qc["modules"].dump().find("vision_tower") != std::string::npos, vision) << qc.dump();

    auto ref = ImpModel::from_pretrained(o.model);
    size_t replaced = 0;
    {
      torch::NoGradGuard ng;
      for (auto& [name, t] : module_state(ref->root())) {
        const bool embedding = name == "model.embed_tokens.weight" || name == "lm_head.weight";
        const bool linear = name.rfind("model.layers.", 0) == 0 || name.rfind("model.mm_projector.", 0) == 0 ||
                            name.rfind("model.vision_tower.vision_tower.vision_model.encoder.", 0) == 0;
        if (t.dim() != 2 || !(embedding || linear)) continue;
        const auto c = embedding ? cfg(k.embedding_bits, k.embedding_bits == 8 ? -1 : 32) : cfg(k.bits, k.group);
        t.copy_(dequantize_weight(quantize_weight(t, c), c));
        const std::string base = name.substr(0, name.size() - 7);
        EXPECT_EQ(stored.count(name), 0u) << name;
        EXPECT_EQ(stored.at(base + ".qweight").scalar_type(), c.bits == 8 ? torch::kInt8 : torch::kUInt8) << name;
        ++replaced;
      }
    }
    EXPECT_EQ(replaced, report.layers);
    auto qm = ImpModel::from_pretrained(o.output);
    ImpInputs in;
    torch::manual_seed(0);
    in.input_ids = torch::randint(0, 100, {2, 7}, torch::kInt64);
    if (vision) {
      in.input_ids[0][2] = kImageTokenIndex;
      in.input_ids[1][0] = kImageTokenIndex;
      in.pixel_values = torch::randn({2, 3, 32, 32});
    }
    in.compute_loss = false;
    torch::NoGradGuard ng;
    auto ids = torch::randint(0, 128, {3, 4}, torch::kInt64);
    EXPECT_LE((ref->lm->embed(ids) - qm->lm->embed(ids)).abs().max().item<double>(), 1e-6);
    auto a = ref->forward(in).logits, b = qm->forward(in).logits;
    ASSERT_EQ(a.sizes(), b.sizes());
    EXPECT_LE((a - b).abs().max().item<double>(), 0.02 * std::max(1.0, a.abs().max().item<double>()));
    LoadSpec bf;
    bf.dtype = torch::kBFloat16;
    auto c16 = ImpModel::from_pretrained(o.output, bf)->forward(in).logits;
    EXPECT_LE((c16 - b).abs().max().item<double>(), 0.1 * std::max(1.0, b.abs().max().item<double>()));
  }
}

// A tower kept in its own SigLIP directory (mm_vision_tower) is folded into the quantized directory, which
// then loads without it; layers after mm_vision_select_layer are dropped.
TEST_F(TempDir, SeparateTowerIsFoldedIn) {
  const std::string split = path("split"), tower = path("split/tower");
  fs::create_directories(tower);
  StateDict decoder, siglip;
  const std::string prefix = "model.vision_tower.vision_tower.";
  for (auto& [name, t] : load_model_dir(model_fixture("imp_phi2")))
    (name.rfind(prefix, 0) == 0 ? siglip[name.substr(prefix.size())] : decoder[name]) = t;
  Json cfg = read_json_file(join_path(model_fixture("imp_phi2"), "config.json"));
  Json tower_cfg = cfg["vision_tower_config"];
  cfg.erase("vision_tower_config");
  cfg["mm_vision_tower"] = "tower";
  write_json_file(join_path(split, "config.json"), cfg);
  write_json_file(join_path(tower, "config.json"), tower_cfg);
  save_model_dir(split, decoder);
  save_model_dir(tower, siglip);
  QuantizeOptions o;
  o.model = split;
  o.output = path("q");
  o.bits = 8;
  const auto report = quantize_model_dir(o);
  EXPECT_EQ(report.row_int8, 0u);
  auto ref = ImpModel::from_pretrained(split);
  fs::remove_all(split);
  const StateDict stored = load_model_dir(o.output);
  EXPECT_EQ(stored.count(prefix + "vision_model.encoder.layers.0.mlp.fc1.qweight"), 1u);
  EXPECT_EQ(stored.count(prefix + "vision_model.encoder.layers.2.mlp.fc1.qweight"), 0u);  // select layer -2 of 3
  EXPECT_EQ(stored.count(prefix + "vision_model.embeddings.patch_embedding.weight"), 1u);
  auto qm = ImpModel::from_pretrained(o.output);
  ImpInputs in;
  in.input_ids = torch::tensor({int64_t{5}, kImageTokenIndex, int64_t{7}, int64_t{9}}, torch::kInt64).view({1, 4});
  torch::manual_seed(0);
  in.pixel_values = torch::randn({1, 3, 32, 32});
  in.compute_loss = false;
  torch::NoGradGuard ng;
  auto a = ref->forward(in).logits, b = qm->forward(in).logits;
  EXPECT_LE((a - b).abs().max().item<double>(), 0.05 * std::max(1.0, a.abs().max().item<double>()));
}

TEST_F(TempDir, QuantizeRefusesWhatItCannotDo) {
  QuantizeOptions o;
  o.model = model_fixture("siglip");
  o.output = path("v");
  try {
    quantize_model_dir(o);
    FAIL() << "a vision tower was quantized";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vision tower"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.output));
  o.model = model_fixture("gen_qwen2");  // hidden 32: not a multiple of 64
  o.group_size = 64;
  try {
    quantize_model_dir(o);
    FAIL() << "group size 64 on 32 features was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--group-size"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.output));
  for (const auto& p : fs::directory_iterator(root_)) ADD_FAILURE() << "left behind: " << p.path();
  o.group_size = 32;
  quantize_model_dir(o);
  QuantizeOptions again = o;
  EXPECT_THROW(quantize_model_dir(again), Error);  // output exists
  again.model = o.output;
  again.output = path("q2");
  try {
    quantize_model_dir(again);
    FAIL() << "a quantized model was quantized again";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already quantized"), std::string::npos) << e.what();
  }
}

// Corrupt quantized directories fail with the file and the problem named, before anything runs.
TEST_F(TempDir, CorruptQuantizedFilesGiveClearErrors) {
  QuantizeOptions o;
  o.model = model_fixture("gen_phi2");
  o.output = path("q");
  o.bits = 4;
  o.group_size = 32;
  quantize_model_dir(o);
  const std::string file = join_path(o.output, "model.safetensors");
  const StateDict good = load_model_dir(o.output);
  const std::string layer = "model.layers.0.mlp.fc2";  // 64 inputs: two groups of 32
  auto expect_error = [&](const std::string& what, const std::string& needle) {
    SCOPED_TRACE(what);
    try {
      ImpModel::from_pretrained(o.output);
      FAIL() << "loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto rewrite = [&](const std::function<void(StateDict&)>& edit) {
    StateDict sd = good;
    edit(sd);
    save_safetensors(file, sd);
  };
  rewrite([&](StateDict& sd) { sd[layer + ".scales"] = sd[layer + ".scales"].to(torch::kFloat16); });
  expect_error("scales as F16", layer + ".scales");
  rewrite([&](StateDict& sd) { sd[layer + ".qweight"] = sd[layer + ".qweight"].to(torch::kInt8); });
  expect_error("qweight of the 8-bit dtype", layer + ".qweight");
  rewrite([&](StateDict& sd) { sd.erase(layer + ".zeros"); });
  expect_error("zeros missing", layer + ".zeros");
  rewrite([&](StateDict& sd) { sd[layer + ".scales"] = sd[layer + ".scales"].narrow(1, 0, 1).contiguous(); });
  expect_error("scales with the wrong shape", layer + ".scales");
  rewrite([&](StateDict& sd) { sd[layer + ".scales"] = torch::ones({sd[layer + ".scales"].size(0), 3}); });
  expect_error("scales whose groups do not divide the row", layer + ".scales");
  rewrite([&](StateDict& sd) { sd["model.embed_tokens.scales"] = sd["model.embed_tokens.scales"].narrow(0, 0, 5).contiguous(); });
  expect_error("embedding scales with the wrong shape", "model.embed_tokens.scales");
  rewrite([&](StateDict& sd) { sd["model.embed_tokens.scales"][3][0] = std::nan(""); });
  expect_error("a NaN embedding scale", "model.embed_tokens");
  rewrite([&](StateDict& sd) { sd[layer + ".scales"][0][0] = std::nan(""); });
  expect_error("a NaN scale", "corrupt");
  {
    StateDict sd = good;
    save_safetensors(file, sd);
    const auto size = fs::file_size(file);
    fs::resize_file(file, size - 100);
  }
  expect_error("truncated file", "model.safetensors");
  save_safetensors(file, good);
  Json cfg = read_json_file(join_path(o.output, "config.json"));
  cfg["quantization_config"]["format_version"] = kFormatVersion + 1;
  atomic_write(join_path(o.output, "config.json"), cfg.dump());
  expect_error("another format version", "format_version");
  cfg["quantization_config"]["quant_method"] = "gptq";
  atomic_write(join_path(o.output, "config.json"), cfg.dump());
  expect_error("another method", "gptq");
}

}  // namespace
}  // namespace imp::quant
