// imp dist-check: every collective the trainer uses, checked against values each rank can compute alone.
#include "imp/dist/dist_check.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include "imp/core/error.h"
#include "imp/dist/process_group.h"

namespace imp::dist {
namespace {

using Clock = std::chrono::steady_clock;

// Fails unless `actual` equals `expected` exactly (all values are small integers or exact halves).
void expect_equal(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what, int rank) {
  auto a = actual.detach().to(torch::kCPU, torch::kFloat64), e = expected.detach().to(torch::kCPU, torch::kFloat64);
  IMP_CHECK_KIND(a.sizes() == e.sizes(), ErrorKind::internal, "dist-check: ", what, " on rank ", rank, " has shape ",
                 a.sizes(), ", expected ", e.sizes());
  auto diff = (a - e).abs().reshape({-1});
  if (diff.numel() == 0 || diff.max().item<double>() == 0) return;
  const int64_t i = diff.argmax().item<int64_t>();
  throw Error(str("dist-check: ", what, " is wrong on rank ", rank, ": element ", i, " is ",
                  a.reshape({-1})[i].item<double>(), ", expected ", e.reshape({-1})[i].item<double>()),
              ErrorKind::internal);
}

// The gradient rank r gives parameter k in the all_reduce_grads check (undefined: no grad on that rank).
torch::Tensor test_grad(int k, int r) {
  const auto f32 = torch::kFloat32;
  switch (k) {
    case 0: return torch::arange(12, f32).reshape({3, 4}) * (r + 1) + r;
    case 1: return torch::full({7}, 0.5 * r, torch::kFloat64);
    case 2: return r == 0 ? torch::arange(5, f32) + 1 : torch::Tensor();  // only rank 0 has it
    case 3: return torch::Tensor();                                        // nobody has it
    default: return (torch::arange(12, f32).reshape({3, 4}) * (r + 2)).t();  // non-contiguous [4,3]
  }
}
const std::vector<std::vector<int64_t>> kTestShapes = {{3, 4}, {7}, {5}, {2}, {4, 3}};

void check_all_reduce_grads(ProcessGroup& pg, const torch::Device& device) {
  const int world = pg.size(), rank = pg.rank();
  std::vector<torch::Tensor> params;
  for (size_t k = 0; k < kTestShapes.size(); ++k) {
    const auto dtype = k == 1 ? torch::kFloat64 : torch::kFloat32;
    auto p = torch::zeros(kTestShapes[k], torch::TensorOptions().dtype(dtype).device(device)).requires_grad_(true);
    auto g = test_grad(static_cast<int>(k), rank);
    if (g.defined()) p.mutable_grad() = g.to(device);
    params.push_back(p);
  }
  pg.all_reduce_grads(params, /*bucket_bytes=*/64);  // small buckets: several per dtype
  for (size_t k = 0; k < params.size(); ++k) {
    torch::Tensor expected;
    for (int r = 0; r < world; ++r) {
      auto g = test_grad(static_cast<int>(k), r);
      if (g.defined()) expected = expected.defined() ? expected + g : g;
    }
    const std::string what = str("all_reduce_grads param ", k);
    if (!expected.defined()) {
      IMP_CHECK_KIND(!params[k].grad().defined(), ErrorKind::internal, "dist-check: ", what,
                     " has no grad on any rank but got one");
      continue;
    }
    IMP_CHECK_KIND(params[k].grad().defined(), ErrorKind::internal, "dist-check: ", what, " lost its grad");
    expect_equal(params[k].grad(), expected, what, rank);
  }
}

void check_collectives(ProcessGroup& pg, const torch::Device& device) {
  const int world = pg.size(), rank = pg.rank();
  const double sum_ranks = world * (world - 1) / 2.0;
  const auto on = [&](torch::Dtype t) { return torch::TensorOptions().dtype(t).device(device); };

  std::vector<torch::Tensor> mixed = {torch::full({1000}, rank + 1.0, on(torch::kFloat32)),
                                      torch::arange(1, 4, on(torch::kFloat64)) * rank,
                                      torch::full({2, 2}, rank, on(torch::kInt64))};
  pg.all_reduce_sum(mixed, "dist-check all_reduce");
  expect_equal(mixed[0], torch::full({1000}, sum_ranks + world), "all_reduce (float32)", rank);
  expect_equal(mixed[1], torch::arange(1, 4, torch::kFloat64) * sum_ranks, "all_reduce (float64)", rank);
  expect_equal(mixed[2], torch::full({2, 2}, sum_ranks), "all_reduce (int64)", rank);

  const int root = world - 1;
  std::vector<torch::Tensor> bc = {torch::arange(5, on(torch::kFloat32)) + 10.0 * rank,
                                   torch::full({3}, rank, on(torch::kInt64))};
  pg.broadcast(bc, root, "dist-check broadcast");
  expect_equal(bc[0], torch::arange(5, torch::kFloat32) + 10.0 * root, "broadcast (float32)", rank);
  expect_equal(bc[1], torch::full({3}, root), "broadcast (int64)", rank);

  const double mx = pg.all_reduce_max(rank, "dist-check max");
  IMP_CHECK_KIND(mx == root, ErrorKind::internal, "dist-check: all_reduce_max gave ", mx, " on rank ", rank,
                 ", expected ", root);
  const double s = pg.all_reduce_sum(rank + 0.5, "dist-check sum");
  IMP_CHECK_KIND(s == sum_ranks + 0.5 * world, ErrorKind::internal, "dist-check: all_reduce_sum gave ", s,
                 " on rank ", rank, ", expected ", sum_ranks + 0.5 * world);
  pg.barrier("dist-check barrier");
  check_all_reduce_grads(pg, device);
}

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace

int run_dist_check(const DistCheckOptions& o) {
  IMP_CHECK_KIND(o.size_mb > 0 && o.iters >= 1 && o.dist_timeout_s > 0 && o.hold_seconds >= 0, ErrorKind::usage,
                 "dist-check: --size-mb, --iters and --dist_timeout must be positive, --hold_seconds >= 0");
  IMP_CHECK_KIND(o.device == "cpu" || o.device == "cuda", ErrorKind::usage, "dist-check: --device is cpu or cuda, not '",
                 o.device, "'");
  const LaunchInfo info = resolve_launch_from_environ(o.local_rank);
  torch::Device device(torch::kCPU);
  if (o.device == "cuda") {
    IMP_CHECK_KIND(torch::cuda::is_available(), ErrorKind::usage, "dist-check: --device cuda but no CUDA device");
    IMP_CHECK_KIND(info.local_rank < static_cast<int>(torch::cuda::device_count()), ErrorKind::usage,
                   "dist-check: local rank ", info.local_rank, " has no GPU (", torch::cuda::device_count(), " visible)");
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(info.local_rank));
  }
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.dist_timeout_s * 1000));
  auto pg = ProcessGroup::create(info, device, timeout);
  std::printf("dist-check: %s, backend %s, device %s\n", describe(info).c_str(), pg->backend().c_str(),
              device.str().c_str());
  std::fflush(stdout);
  if (o.fail_rank == info.rank && o.fail_attempt == info.restart_count) {
    std::fprintf(stderr, "dist-check: rank %d fails on purpose (--fail_rank, attempt %d)\n", info.rank,
                 info.restart_count);
    return 3;
  }

  check_collectives(*pg, device);

  const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(o.size_mb * (1 << 20) / sizeof(float)));
  auto buf = torch::ones({n}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  std::vector<torch::Tensor> one{buf};
  double total_s = 0;
  for (int i = -1; i < o.iters; ++i) {  // i = -1: warm-up, not timed
    buf.fill_(1);
    sync(device);
    const auto t0 = Clock::now();
    pg->all_reduce_sum(one, "dist-check bandwidth");
    sync(device);
    if (i >= 0) total_s += std::chrono::duration<double>(Clock::now() - t0).count();
    const double got = buf[n - 1].item<double>();
    IMP_CHECK_KIND(got == pg->size(), ErrorKind::internal, "dist-check: bandwidth all_reduce gave ", got, " on rank ",
                   pg->rank(), ", expected ", pg->size());
  }

  if (o.hold_seconds > 0) {
    std::printf("dist-check: rank %d checks passed, holding for %g s\n", pg->rank(), o.hold_seconds);
    std::fflush(stdout);
  }
  const auto hold_start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - hold_start).count() < o.hold_seconds) {
    pg->barrier("dist-check hold");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pg->barrier("dist-check end");

  if (pg->is_main()) {
    const double bytes = static_cast<double>(n) * sizeof(float), avg = total_s / o.iters;
    const double algbw = bytes / avg / 1e9, busbw = algbw * 2.0 * (pg->size() - 1) / pg->size();
    std::printf("dist-check: all_reduce %.2f MB float32 x %d: %.3f ms, algbw %.3f GB/s, busbw %.3f GB/s\n",
                bytes / (1 << 20), o.iters, avg * 1e3, algbw, busbw);
    std::printf("dist-check: OK (%d ranks)\n", pg->size());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace imp::dist
