// Torch-free training pieces: SHA-256, LR schedules (HF formulas), the loss scaler's rules (NUM-2),
// the checkpoint commit / verify / rotate protocol (CKPT-4, CKPT-5, CKPT-6) and the activation estimate.
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/sha256.h"
#include "imp/train/activation_estimate.h"
#include "imp/train/checkpoint.h"
#include "imp/train/loss_scaler.h"
#include "imp/train/schedule.h"
#include "imp/train/tensorboard.h"

namespace fsys = std::filesystem;
using namespace imp;
using namespace imp::train;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = fsys::temp_directory_path() / ("imp_train_core_" + name + "_" + std::to_string(::getpid()));
  fsys::remove_all(dir);
  fsys::create_directories(dir);
  return dir.string();
}

// A committed checkpoint with two files, written by the same calls the trainer makes.
std::string write_checkpoint(const std::string& out, int64_t step, const std::string& payload = "weights") {
  const std::string dir = begin_checkpoint(out, step);
  atomic_write(join_path(dir, "trainable.safetensors"), payload + std::to_string(step));
  atomic_write(join_path(dir, "trainer_state.json"), "{\"step\": " + std::to_string(step) + "}");
  return commit_checkpoint(out, step);
}

}  // namespace

TEST(Fs, BaseNameAndTrailingSlashes) {
  EXPECT_EQ(strip_trailing_slashes("out/"), "out");
  EXPECT_EQ(strip_trailing_slashes("a/b//"), "a/b");
  EXPECT_EQ(strip_trailing_slashes("/"), "/");
  EXPECT_EQ(base_name("runs/stage1/"), "stage1");
  EXPECT_EQ(base_name("merged"), "merged");
  EXPECT_EQ(base_name("/"), "/");
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Schedule, CosineWithWarmupMatchesHF) {
  // transformers get_cosine_schedule_with_warmup(num_warmup_steps=2, num_training_steps=10).
  const double expected[] = {0.0, 0.5, 1.0, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449,
                             0.5, 0.30865828381745514, 0.14644660940672627, 0.03806023374435663, 0.0};
  for (int s = 0; s <= 10; ++s) EXPECT_NEAR(lr_factor("cosine", s, 2, 10), expected[s], 1e-15) << "step " << s;
}

TEST(Schedule, LinearConstantAndWarmupSteps) {
  EXPECT_DOUBLE_EQ(lr_factor("linear", 0, 0, 4), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("linear", 3, 0, 4), 0.25);
  EXPECT_DOUBLE_EQ(lr_factor("linear", 1, 2, 6), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor("linear", 4, 2, 6), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor("constant", 0, 5, 6), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("constant_with_warmup", 1, 4, 6), 0.25);
  EXPECT_DOUBLE_EQ(lr_factor("constant_with_warmup", 5, 4, 6), 1.0);
  EXPECT_EQ(warmup_steps_for(0, 0.03, 100), 3);
  EXPECT_EQ(warmup_steps_for(0, 0.03, 1000), 30);
  EXPECT_EQ(warmup_steps_for(0, 0.03, 5197), 156);  // ceil(155.91)
  EXPECT_EQ(warmup_steps_for(7, 0.5, 100), 7);
  EXPECT_THROW(lr_factor("polynomial", 1, 0, 2), Error);
}

TEST(LossScaler, GradScalerRules) {  // NUM-2: growth after growth_interval clean steps, halving on overflow
  LossScalerOptions o;
  o.init_scale = 1024;
  o.growth_interval = 3;
  LossScaler s(o);
  const bool overflow[] = {false, false, false, false, true, false, false, false, true, true};
  const double scale_after[] = {1024, 1024, 2048, 2048, 1024, 1024, 1024, 2048, 1024, 512};
  for (size_t i = 0; i < std::size(overflow); ++i) {
    s.update(overflow[i]);
    EXPECT_EQ(s.scale(), scale_after[i]) << "after update " << i;
  }
  LossScaler off(o, /*enabled=*/false);
  off.update(true);
  EXPECT_EQ(off.scale(), 1.0);
}

TEST(LossScaler, HysteresisFloorAndState) {
  LossScalerOptions o;
  o.init_scale = 4;
  o.hysteresis = 2;
  o.min_scale = 1;
  LossScaler s(o);
  s.update(true);
  EXPECT_EQ(s.scale(), 4);  // first overflow tolerated
  s.update(true);
  EXPECT_EQ(s.scale(), 2);
  s.update(true), s.update(true);
  EXPECT_EQ(s.scale(), 1);
  s.update(true), s.update(true);
  EXPECT_EQ(s.scale(), 1);  // floor
  LossScaler t(o);
  t.load_state(s.state(), "test");
  EXPECT_EQ(t.state(), s.state());
}

TEST(Checkpoint, CommitListsAndVerifies) {
  const auto out = temp_dir("commit");
  const auto path = write_checkpoint(out, 5);
  EXPECT_EQ(path, join_path(out, "checkpoint-5"));
  EXPECT_TRUE(fsys::exists(join_path(path, kCommitMarker)));
  EXPECT_TRUE(fsys::exists(join_path(path, kManifest)));
  EXPECT_NO_THROW(verify_checkpoint(path));
  ASSERT_EQ(committed_checkpoints(out).size(), 1u);
  EXPECT_EQ(committed_checkpoints(out)[0].step, 5);
  fsys::remove_all(out);
}

TEST(Checkpoint, UncommittedFoldersAreIgnoredAndOnlyPartialsRemoved) {  // CKPT-1 (start-up side)
  const auto out = temp_dir("partial");
  write_checkpoint(out, 2);
  begin_checkpoint(out, 4);  // a crash after this: never committed
  fsys::create_directories(join_path(out, "checkpoint-9"));  // a foreign (e.g. HF) checkpoint without marker
  const auto all = committed_checkpoints(out);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].step, 2);
  auto ref = resolve_resume("auto", out, [](const std::string&) {});
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->step, 2);
  remove_partial_checkpoints(out);
  EXPECT_FALSE(fsys::exists(join_path(out, ".checkpoint-4.partial")));
  EXPECT_TRUE(fsys::exists(join_path(out, "checkpoint-9")));  // never delete what imp did not write
  EXPECT_THROW(begin_checkpoint(out, 9), Error);               // nor overwrite it
  fsys::remove_all(out);
}

TEST(Checkpoint, RotationKeepsNewestAfterCommit) {  // CKPT-4
  const auto out = temp_dir("rotate");
  for (int64_t step : {1, 2, 3, 4, 5}) {
    write_checkpoint(out, step);
    rotate_checkpoints(out, 2);
    const auto all = committed_checkpoints(out);
    ASSERT_EQ(all.size(), std::min<size_t>(2, static_cast<size_t>(step)));
    EXPECT_EQ(all.back().step, step);
  }
  EXPECT_EQ(committed_checkpoints(out).front().step, 4);
  fsys::remove_all(out);
}

TEST(Checkpoint, CorruptionIsDetectedAndAutoFallsBack) {  // CKPT-5
  for (const std::string damage : {"flip", "truncate", "delete", "marker"}) {
    const auto out = temp_dir("corrupt_" + damage);
    write_checkpoint(out, 1);
    const auto newest = write_checkpoint(out, 2);
    const std::string file = join_path(newest, "trainable.safetensors");
    if (damage == "flip") {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(0);
      f.put('X');
    } else if (damage == "truncate") {
      fsys::resize_file(file, 3);
    } else if (damage == "delete") {
      fsys::remove(file);
    } else {
      fsys::remove(join_path(newest, kCommitMarker));
    }
    if (damage != "marker") {
      try {
        verify_checkpoint(newest);
        FAIL() << damage << ": damage not detected";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("trainable.safetensors"), std::string::npos) << e.what();
      }
    }
    std::vector<std::string> warnings;
    auto ref = resolve_resume("auto", out, [&](const std::string& w) { warnings.push_back(w); });
    ASSERT_TRUE(ref.has_value()) << damage;
    EXPECT_EQ(ref->step, 1) << damage;
    EXPECT_EQ(warnings.size(), damage == "marker" ? 0u : 1u) << damage;
    EXPECT_THROW(resolve_resume(newest, out, [](const std::string&) {}), Error) << damage;
    fsys::remove_all(out);
  }
}

TEST(Checkpoint, DiskFullLeavesPreviousCheckpointIntact) {  // CKPT-6 (EFBIG through ulimit -f)
  const auto out = temp_dir("full");
  const auto first = write_checkpoint(out, 1);
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit small = old;
  small.rlim_cur = 64;
  setrlimit(RLIMIT_FSIZE, &small);
  EXPECT_THROW(write_checkpoint(out, 2, std::string(4096, 'w')), Error);
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_NO_THROW(verify_checkpoint(first));
  const auto all = committed_checkpoints(out);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].step, 1);
  fsys::remove_all(out);
}

TEST(TensorBoard, Crc32cKnownValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(TensorBoard, ScalarsReadBack) {
  const auto dir = temp_dir("tb");
  std::string path;
  {
    TensorBoardWriter w(dir);
    path = w.path();
    w.scalar("train/loss", 2.5, 1);
    w.scalar("train/learning_rate", 1e-3, 1);
    w.scalar("train/loss", 1.25, 2);
    w.flush();
  }
  EXPECT_NE(fsys::path(path).filename().string().find("events.out.tfevents."), std::string::npos);
  const auto events = read_tensorboard_scalars(path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].tag, "train/loss");
  EXPECT_EQ(events[0].step, 1);
  EXPECT_FLOAT_EQ(events[0].value, 2.5f);
  EXPECT_FLOAT_EQ(events[1].value, 1e-3f);
  EXPECT_EQ(events[2].step, 2);
  EXPECT_FLOAT_EQ(events[2].value, 1.25f);
  // A flipped byte fails its record's CRC.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-6, std::ios::end);
    f.put('\x7f');
  }
  EXPECT_THROW(read_tensorboard_scalars(path), Error);
  fsys::remove_all(dir);
}

namespace {

ModelConfig phi2_widths() {  // Phi-2 (hidden 2560, 32 heads, vocab 51200) with SigLIP so400m
  ModelConfig c;
  c.text.arch = Arch::phi2;
  c.text.vocab_size = 51200;
  c.text.hidden_size = 2560;
  c.text.intermediate_size = 10240;
  c.text.num_hidden_layers = 4;
  c.text.num_attention_heads = c.text.num_key_value_heads = 32;
  c.text.head_dim = 80;
  c.text.resid_pdrop = 0.1;
  return c;
}

}  // namespace

// A layer recomputed whole keeps its input, the residual stream, which has the embedding's dtype, not the
// autocast dtype: an fp32 base under bf16 autocast keeps 4 bytes per element.
TEST(ActivationEstimate, WholeLayerKeepsTheResidualStreamInItsOwnDtype) {
  const auto c = phi2_widths();
  ActivationSetup s;
  s.act_bytes = 2;
  s.stream_bytes = 4;
  EXPECT_DOUBLE_EQ(layer_activation_bytes(c.text, s).whole, 2560.0 * 4);
  s.stream_bytes = 2;
  EXPECT_DOUBLE_EQ(layer_activation_bytes(c.text, s).whole, 2560.0 * 2);
}

// The estimate orders the modes as they keep activations; eager attention adds per-pair bytes; LoRA inputs count.
TEST(ActivationEstimate, LayerEstimateOrdersTheModes) {
  const auto c = phi2_widths();
  for (const bool eager : {true, false}) {
    ActivationSetup s;
    s.act_bytes = 2;
    s.stream_bytes = 2;
    s.eager = eager;
    const auto b = layer_activation_bytes(c.text, s);
    EXPECT_LT(b.whole, b.selective);
    EXPECT_LT(b.selective, b.none);
    EXPECT_EQ(b.none_per_pair > 0, eager);
    s.lora_dropout_in = 100;
    s.lora_ranks = 8;
    EXPECT_DOUBLE_EQ(layer_activation_bytes(c.text, s).selective, b.selective + 100 * 3 + 8 * 2);
  }
}

// A packed row attends within each sample: eager attention scores sum(L_i^2) pairs, not (sum L_i)^2.
TEST(ActivationEstimate, PackedRowsScoreEachSamplesPairs) {
  auto packed = BatchShape::packed({870, 1046}, 1);
  EXPECT_DOUBLE_EQ(packed.positions, 1916);
  EXPECT_DOUBLE_EQ(packed.pairs, 870.0 * 870 + 1046.0 * 1046);
  const auto padded = BatchShape::padded(2, 1046, 1);
  EXPECT_DOUBLE_EQ(padded.positions, 2092);
  EXPECT_DOUBLE_EQ(padded.pairs, 2 * 1046.0 * 1046);
  // With eager attention the plan of the packed row is lower by the pairs it does not score.
  ActivationSetup s;
  s.act_bytes = 2;
  s.eager = true;
  s.logits_chunk = 1024;
  const auto est = estimate_activations(phi2_widths(), s);
  packed.scored = 239;  // the loss head is then smaller than a layer held in full
  auto as_one_row = packed;
  as_one_row.pairs = 1916.0 * 1916;
  EXPECT_DOUBLE_EQ(est.peak(as_one_row, 0, true) - est.peak(packed, 0, true),
                   2 * (as_one_row.pairs - packed.pairs) * est.layer.none_per_pair);  // the layer and its gradients
}

// The loss head: fp32 logits, log-softmax and gradient for min(chunk, labelled rows) rows (every position
// without chunking), and the projector's activations per image.
TEST(ActivationEstimate, CountsTheLogitsChunkAndTheImages) {
  auto c = phi2_widths();
  ActivationSetup s;
  s.act_bytes = 2;
  s.image_bytes = 2;
  s.logits_chunk = 1024;
  const auto est = estimate_activations(c, s);
  auto b = BatchShape::padded(2, 1046, 2);
  const double per_row = 51200.0 * 4 * 3, hidden = b.positions * 2560 * 4;
  b.scored = 239;
  EXPECT_DOUBLE_EQ(est.head(b), 239 * per_row + hidden);
  b.scored = 5000;
  EXPECT_DOUBLE_EQ(est.head(b), 1024 * per_row + hidden);
  b.scored = -1;  // unknown: every position, capped by the chunk
  EXPECT_DOUBLE_EQ(est.head(b), 1024 * per_row + hidden);
  s.logits_chunk = 0;  // full logits
  EXPECT_DOUBLE_EQ(estimate_activations(c, s).head(b), b.positions * per_row + hidden);
  // All layers whole: the head's logits are the largest transient; the projector keeps 729 x (1152 + 2 x 2560)
  // half-precision elements per image.
  b.scored = 239;
  const double kept = b.positions * est.layers * est.layer.whole;
  EXPECT_DOUBLE_EQ(est.image_kept, 729.0 * (1152 * 2 + 2 * 2560 * 2));
  const double layer_backward = b.positions * (2 * est.layer.none - est.layer.whole);
  EXPECT_DOUBLE_EQ(est.peak(b, est.layers, true), kept + std::max(est.head(b), layer_backward) + 2 * est.image_kept);
}

// The plan: the smallest number of whole layers that fits; all when nothing fits; none when all fit.
TEST(CheckpointPlan, PicksTheFewestWholeLayersThatFit) {
  CheckpointPlan plan;
  plan.activations.layers = 8;
  plan.activations.layer = {1, 10, 30, 0.5};  // whole, selective, none per position; none per pair
  plan.fixed_bytes = 1000;
  // 20 positions, 200 pairs: a layer's full set 600 + 100, in backward twice less what the layer keeps
  const auto b = BatchShape::padded(2, 10);
  EXPECT_DOUBLE_EQ(plan.estimate_bytes(b, 0), 1000 + 20 * 80 + (1400 - 200));
  EXPECT_DOUBLE_EQ(plan.estimate_bytes(b, 8), 1000 + 20 * 8 + (1400 - 20));
  plan.budget_bytes = 1e9;
  EXPECT_EQ(plan.full_layers(b), 0);
  plan.budget_bytes = 10;
  EXPECT_EQ(plan.full_layers(b), 8);
  plan.budget_bytes = 1000 + 20 * (3 * 1 + 5 * 10) + 1380;  // exactly 3 whole layers
  EXPECT_EQ(plan.full_layers(b), 3);
  EXPECT_EQ(plan.full_layers(BatchShape::padded(2, 5)), 0);  // a shorter batch needs none
}
