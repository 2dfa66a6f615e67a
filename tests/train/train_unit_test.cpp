// Optimizer pieces with LibTorch: clipping (NUM-5) on a hand-computed toy, AdamW against LibTorch's
// own torch::optim::AdamW, and the optimizer state round trip.
#include <gtest/gtest.h>

#include <cmath>

#include "imp/core/error.h"
#include "imp/train/optimizer.h"

using namespace imp::train;

TEST(ClipGradNorm, HandComputedToy) {  // NUM-5
  auto a = torch::zeros({2}, torch::requires_grad()), b = torch::zeros({1}, torch::requires_grad()),
       c = torch::zeros({3}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0f, 4.0f});
  b.mutable_grad() = torch::tensor({12.0f});
  c.mutable_grad() = torch::zeros({3});
  const double norm = clip_grad_norm({a, b, c}, 6.5);
  EXPECT_NEAR(norm, 13.0, 1e-6);  // sqrt(5^2 + 12^2 + 0)
  const double coef = 6.5 / (13.0 + 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 * coef, 1e-6);
  EXPECT_NEAR(b.grad()[0].item<double>(), 12.0 * coef, 1e-6);
  double after = 0;
  for (const auto& t : {a, b, c}) after += t.grad().pow(2).sum().item<double>();
  EXPECT_LE(std::sqrt(after), 6.5 + 1e-5);
  // Below the threshold nothing changes; max_norm 0 never clips; non-finite grads are reported, not clipped.
  EXPECT_NEAR(clip_grad_norm({a, b, c}, 100.0), 6.5, 1e-5);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 * coef, 1e-6);
  b.mutable_grad()[0] = std::nan("");
  EXPECT_TRUE(std::isnan(clip_grad_norm({a, b, c}, 1.0)));
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 * coef, 1e-6);
}

TEST(AdamW, MatchesLibTorchAdamW) {
  torch::manual_seed(0);
  auto w0 = torch::randn({4, 3});
  auto mine = w0.clone().set_requires_grad(true), ref = w0.clone().set_requires_grad(true);
  AdamW opt({{"w", mine, 0}}, {{"decay", 1e-2, 0.1}});
  torch::optim::AdamW lt({ref}, torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  for (int step = 0; step < 5; ++step) {
    auto g = torch::randn({4, 3});
    mine.mutable_grad() = g.clone();
    ref.mutable_grad() = g.clone();
    opt.step(1.0);
    lt.step();
    EXPECT_TRUE(torch::allclose(mine, ref, 1e-6, 1e-7)) << "step " << step << " max diff "
                                                          << (mine - ref).abs().max().item<double>();
  }
}

TEST(AdamW, StateRoundTripAndSkippedParameters) {
  auto p = torch::ones({2}).set_requires_grad(true), q = torch::ones({3}).set_requires_grad(true);
  AdamW opt({{"p", p, 0}, {"q", q, 1}}, {{"a", 0.1, 0.0}, {"b", 0.2, 0.0}});
  p.mutable_grad() = torch::ones({2});
  opt.step(0.5);  // q has no grad: untouched, its counter stays 0
  EXPECT_TRUE(torch::equal(q, torch::ones({3})));
  const auto st = opt.state();
  EXPECT_EQ(st.at("step/p").item<int64_t>(), 1);
  EXPECT_EQ(st.at("step/q").item<int64_t>(), 0);
  auto p2 = torch::ones({2}).set_requires_grad(true), q2 = torch::ones({3}).set_requires_grad(true);
  AdamW other({{"p", p2, 0}, {"q", q2, 1}}, {{"a", 0.1, 0.0}, {"b", 0.2, 0.0}});
  other.load_state(st, "test");
  EXPECT_TRUE(torch::equal(other.state().at("exp_avg_sq/p"), st.at("exp_avg_sq/p")));
  auto bad = st;
  bad.erase("exp_avg/q");
  EXPECT_THROW(other.load_state(bad, "test"), imp::Error);
}
