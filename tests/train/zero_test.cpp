// ZeRO-1 and the memory plan without processes: the sharded AdamW on one rank (several buckets, two groups,
// clipping) against AdamW bit for bit, the shard -> full state round trip, the bucket layout, and the plan's
// parameter counts against the models imp builds from the tiny configs.
#include <gtest/gtest.h>

#include <filesystem>

#include "imp/dist/process_group.h"
#include "imp/models/imp_model.h"
#include "imp/train/grad_sync.h"
#include "imp/train/memory_plan.h"
#include "imp/train/optimizer.h"
#include "imp/train/zero_optimizer.h"
#include "test_utils.h"

using namespace imp;
using namespace imp::train;
using imp::test::check_close;

namespace {

std::string repo_path(const std::string& rel) {
  return (std::filesystem::path(IMP_TEST_DATA) / ".." / ".." / rel).string();
}

std::shared_ptr<dist::ProcessGroup> one_rank() {
  return dist::ProcessGroup::create(dist::LaunchInfo{}, torch::kCPU, std::chrono::seconds(5));
}

std::vector<torch::Tensor> make_params(uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({7, 5}).set_requires_grad(true), torch::randn({13}).set_requires_grad(true),
          torch::randn({3, 4, 2}).set_requires_grad(true)};
}

}  // namespace

TEST(GradBuckets, ReverseOrderSizeCapAndPadding) {
  const auto params = make_params(0);
  // 16 floats per bucket: 24 (p2) alone, 13 (p1) alone, 35 (p0) alone; padded to multiples of 3.
  const auto buckets = make_buckets(params, 16 * 4, 3);
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].params, std::vector<size_t>({2}));
  EXPECT_EQ(buckets[1].params, std::vector<size_t>({1}));
  EXPECT_EQ(buckets[2].params, std::vector<size_t>({0}));
  EXPECT_EQ(buckets[1].padded, 15);
  EXPECT_EQ(buckets[1].shard_numel(), 5);
  const auto one = make_buckets(params, 1 << 20, 2);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].params, std::vector<size_t>({2, 1, 0}));
  EXPECT_EQ(one[0].offsets, std::vector<int64_t>({0, 24, 37}));
  // A late parameter (p2: accumulated more than once per backward) gets a bucket of its own, last.
  const auto late = make_buckets(params, 1 << 20, 2, {false, false, true});
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late[0].params, std::vector<size_t>({1, 0}));
  EXPECT_EQ(late[1].params, std::vector<size_t>({2}));
}

// On one rank ZeRO-1 is the same arithmetic as AdamW: every step bit-identical (three buckets, two groups).
TEST(ShardedAdamW, OneRankEqualsAdamWBitForBit) {
  auto pg = one_rank();
  auto ref = make_params(1), mine = make_params(1);
  std::vector<ParamGroup> groups = {{"decay", 1e-2, 0.1}, {"no_decay", 3e-3, 0.0}};
  auto named = [](const std::vector<torch::Tensor>& p) {
    return std::vector<NamedParam>{{"a", p[0], 0}, {"b", p[1], 1}, {"c", p[2], 0}};
  };
  AdamW adamw(named(ref), groups);
  GradSync sync(mine, *pg, 1, 16 * 4);
  ASSERT_EQ(sync.buckets().size(), 3u);
  ShardedAdamW zero(named(mine), groups, {}, sync, *pg, mine);
  for (int step = 0; step < 5; ++step) {
    torch::manual_seed(100 + step);
    for (size_t i = 0; i < ref.size(); ++i) {
      auto g = torch::randn(ref[i].sizes()) * 3;
      ref[i].mutable_grad() = g.clone();
      mine[i].mutable_grad() = g.clone();
    }
    sync.arm();
    sync.finish();
    for (const auto& p : mine) EXPECT_FALSE(p.grad().defined());  // only the shard is kept
    zero.scale_grads(0.5);
    for (auto& p : ref) p.mutable_grad().mul_(0.5);
    // No clipping here (max_norm 0): the norms are summed in another order, so a clip coefficient could
    // differ in the last bit. Clipping itself is covered by the multi-rank tests.
    const double n_ref = clip_grad_norm(ref, 0.0), n_mine = zero.clip_grad_norm(0.0);
    EXPECT_NEAR(n_mine, n_ref, 1e-6 * n_ref);
    adamw.step(0.7);
    zero.step(0.7);
    adamw.zero_grad();
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_TRUE(check_close(mine[i], ref[i], 0.0, "param " + std::to_string(i) + " step " + std::to_string(step)));
  }
  // The shard state converts to the AdamW format (what another world size or an unsharded run resumes from).
  const auto full = full_state_from_shards(zero.layout(), {zero.shard_state()}, "test");
  const auto want = adamw.state();
  for (const auto& [key, t] : want) {
    ASSERT_TRUE(full.count(key)) << key;
    EXPECT_TRUE(check_close(full.at(key).to(t.scalar_type()), t, 0.0, key));
  }
  // ... and back: a fresh sharded optimizer loaded from it continues exactly like this one.
  auto copy = make_params(9);
  for (size_t i = 0; i < copy.size(); ++i) copy[i].detach().copy_(mine[i]);
  GradSync sync2(copy, *pg, 1, 1 << 20);  // another bucket layout
  ShardedAdamW zero2(named(copy), groups, {}, sync2, *pg, copy);
  zero2.load_full_state(full, "test");
  for (size_t i = 0; i < ref.size(); ++i) {
    auto g = torch::full(ref[i].sizes(), 0.25);
    mine[i].mutable_grad() = g.clone();
    copy[i].mutable_grad() = g.clone();
  }
  sync.arm();
  sync.finish();
  sync2.arm();
  sync2.finish();
  zero.step(1.0);
  zero2.step(1.0);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_TRUE(check_close(copy[i], mine[i], 0.0, "resharded " + std::to_string(i)));
}

TEST(ShardedAdamW, HalfWeightsKeepFp32Masters) {
  auto pg = one_rank();
  auto fp32 = make_params(2);
  std::vector<torch::Tensor> half;
  for (const auto& p : fp32) half.push_back(p.detach().to(torch::kBFloat16).set_requires_grad(true));
  std::vector<NamedParam> named = {{"a", half[0], 0}, {"b", half[1], 0}, {"c", half[2], 0}};
  GradSync sync(half, *pg, 1);
  ShardedAdamW zero(named, {{"decay", 1e-4, 0.0}}, {}, sync, *pg, fp32);
  // Steps far below bf16 resolution accumulate in the masters; the bf16 weights follow their rounding.
  for (int step = 0; step < 20; ++step) {
    for (auto& p : half) p.mutable_grad() = torch::ones_like(p);
    sync.arm();
    sync.finish();
    zero.step(1.0);
  }
  const auto master = full_state_from_shards(zero.layout(), {zero.shard_state()}, "test").at("master/a");
  EXPECT_TRUE(check_close(master, fp32[0] - 20 * 1e-4, 1e-5, "master"));
  EXPECT_TRUE(check_close(half[0].to(torch::kFloat32), master.to(torch::kBFloat16).to(torch::kFloat32), 0.0, "weights"));
}

// The plan counts parameters as imp's models hold them.
TEST(MemoryPlan, ParameterCountsMatchTheBuiltModels) {
  for (const char* name : {"tiny-imp-phi2.json", "tiny-imp-qwen2.json", "tiny-imp-phi3.json"}) {
    const auto cfg = plan_config(repo_path(std::string("configs/models/") + name));
    ImpModel model(cfg);
    int64_t decoder = 0, vision = 0, projector = 0;
    for (const auto& item : model.root().named_parameters()) {
      const std::string& key = item.key();
      if (key.find("vision_tower") != std::string::npos) vision += item.value().numel();
      else if (key.find("mm_projector") != std::string::npos) projector += item.value().numel();
      else decoder += item.value().numel();
    }
    TrainArgs a = stage_defaults(Stage::finetune);
    a.mm_projector_type = cfg.mm_projector_type;
    a.mm_vision_select_layer = cfg.mm_vision_select_layer;
    const auto plan = plan_memory(cfg, a, Stage::finetune, 1);
    EXPECT_EQ(plan.decoder_params, decoder) << name;
    EXPECT_EQ(plan.vision_params, vision) << name;
    EXPECT_EQ(plan.projector_params, projector) << name;
    EXPECT_EQ(plan.trainable_params, decoder + projector) << name;
    // ZeRO-1 on 8 ranks: the optimizer state (moments + masters) is 12/8 bytes per trainable parameter.
    a.zero_stage = 1;
    const auto z = plan_memory(cfg, a, Stage::finetune, 8);
    EXPECT_DOUBLE_EQ(z.optimizer, 12.0 * static_cast<double>(plan.trainable_params) / 8) << name;
    EXPECT_DOUBLE_EQ(plan.optimizer, 8.0 * static_cast<double>(plan.trainable_params)) << name;
  }
}
