// ProcessGroup: TCPStore rendezvous, a Gloo or NCCL backend, and timeout-bounded collectives that turn
// every failure into an imp::Error naming the collective.
#include "imp/dist/process_group.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>

#include "imp/core/error.h"
#include "imp/dist/compat_c10d.h"

namespace imp::dist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The message without LibTorch's C++ backtrace, on one line where possible.
std::string message_of(const std::exception& e) {
  std::string msg;
  if (auto* c10 = dynamic_cast<const c10::Error*>(&e))
    msg = c10->what_without_backtrace();
  else
    msg = e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(sep, start), s.size());
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

c10::intrusive_ptr<c10d::Store> connect_store(const LaunchInfo& info, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(info.master_port);
  opts.timeout = timeout;
  opts.numWorkers = static_cast<std::size_t>(info.world_size);
  if (info.agent_store) {
    // torch.distributed's rule under torchrun's agent store: everyone is a client of the agent's store and
    // keys live under the attempt, so a restarted group never sees keys of the previous attempt.
    opts.isServer = false;
    opts.waitWorkers = false;
    auto store = c10::make_intrusive<c10d::TCPStore>(info.master_addr, opts);
    return c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(info.restart_count), store);
  }
  opts.isServer = info.rank == 0;
  opts.waitWorkers = false;  // check_membership waits for the ranks, with a clear message on timeout
  opts.multiTenant = true;
  return c10::make_intrusive<c10d::TCPStore>(info.master_addr, opts);
}

// Rank 0 publishes its WORLD_SIZE and waits for every other rank to publish theirs (bounded by the timeout;
// LibTorch 1.13's own wait for clients gives up silently), so a missing rank, a duplicate RANK or a WORLD_SIZE
// mismatch fails with a clear message instead of a backend timeout. A rank reads rank 0's value before it
// publishes its own, so it has its answer even when rank 0 stops at once.
void check_membership(c10d::Store& store, const LaunchInfo& info, std::chrono::milliseconds timeout) {
  auto bytes = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  auto text = [](const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); };
  auto key = [](int rank) { return "imp/world_size/" + std::to_string(rank); };
  const std::string mine = std::to_string(info.world_size);
  auto mismatch = [&](int peer, const std::string& theirs) {
    return Error(str("WORLD_SIZE mismatch: rank ", info.rank, " has WORLD_SIZE=", mine, " but rank ", peer,
                     " has WORLD_SIZE=", theirs, "; start every rank with the same WORLD_SIZE"),
                 ErrorKind::usage);
  };
  IMP_CHECK_KIND(store.add("imp/rank_claims/" + std::to_string(info.rank), 1) == 1, ErrorKind::usage,
                 "two processes were started with RANK=", info.rank, " (WORLD_SIZE=", info.world_size,
                 "); every rank needs its own RANK in [0, WORLD_SIZE)");
  if (info.rank != 0) {
    const std::string theirs = text(store.get(key(0)));  // rank 0 set it when it started the store
    store.set(key(info.rank), bytes(mine));                // also on a mismatch: rank 0 reports it too
    if (theirs != mine) throw mismatch(0, theirs);
    return;
  }
  store.set(key(0), bytes(mine));
  std::vector<std::string> keys;
  for (int peer = 1; peer < info.world_size; ++peer) keys.push_back(key(peer));
  try {
    store.wait(keys, timeout);
  } catch (const std::exception&) {
    std::string missing;
    for (int peer = 1; peer < info.world_size; ++peer)
      if (!store.check({key(peer)})) missing += (missing.empty() ? "" : ", ") + std::to_string(peer);
    throw Error(str("rendezvous failed: rank 0 hosts the TCPStore at ", info.master_addr, ":", info.master_port,
                    " but rank(s) ", missing, " of WORLD_SIZE=", info.world_size, " did not join within ",
                    seconds(timeout), " s\nhint: start all ranks with the same MASTER_ADDR/MASTER_PORT (reachable "
                    "from every node); --dist_timeout sets how long to wait",
                    info.launcher == "slurm" ? "; under Slurm start imp with srun (one task per device), or one "
                                               "'imp launch --nnodes auto' per node" : ""),
                ErrorKind::io);
  }
  for (int peer = 1; peer < info.world_size; ++peer) {
    const std::string theirs = text(store.get(key(peer)));
    if (theirs != mine) throw mismatch(peer, theirs);
  }
}

#ifdef IMP_DIST_GLOO
// GLOO_SOCKET_IFNAME (comma-separated) as in torch.distributed; loopback when all ranks share this node;
// else the address this host name resolves to.
std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const LaunchInfo& info) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> out;
  if (const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME")) {
    for (const auto& name : split(ifnames, ',')) out.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  }
  if (out.empty())
    out.push_back(info.local_world_size >= info.world_size
                      ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                      : c10d::ProcessGroupGloo::createDefaultDevice());
  return out;
}
#endif

c10::intrusive_ptr<compat::Backend> make_backend(const c10::intrusive_ptr<c10d::Store>& store, const LaunchInfo& info,
                                                 const torch::Device& device, std::chrono::milliseconds timeout) {
  if (device.is_cuda()) {
#ifdef IMP_DIST_NCCL
    compat::apply_nccl_env_spellings();
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, info.rank, info.world_size, opts);
#else
    throw Error(str("device ", device.str(), " needs NCCL, but imp was built without it (LibTorch without NCCL, or "
                    "nccl.h not found at configure time); run on --device cpu (Gloo) or rebuild against a CUDA LibTorch"),
                ErrorKind::usage);
#endif
  }
  IMP_CHECK_KIND(device.is_cpu(), ErrorKind::usage, "data parallel runs on cpu (Gloo) or cuda (NCCL), not ",
                 device.str());
#ifdef IMP_DIST_GLOO
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  opts->devices = gloo_devices(info);
  opts->threads = std::max<int>(2, static_cast<int>(opts->devices.size()) * 2);
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, info.rank, info.world_size, opts);
#else
  throw Error("imp was built without Gloo (its headers, package libgloo-dev, were not found at configure time); "
              "install libgloo-dev or pass -DIMP_THIRD_PARTY_INCLUDE=<folder with gloo/> and rebuild",
              ErrorKind::usage);
#endif
}

}  // namespace

std::string compiled_backends() {
  std::vector<std::string> names;
#ifdef IMP_DIST_GLOO
  names.push_back("Gloo");
#endif
#ifdef IMP_DIST_NCCL
  names.push_back(str("NCCL ", NCCL_MAJOR, ".", NCCL_MINOR, ".", NCCL_PATCH));
#endif
  if (names.empty()) return "none";
  std::string out = names[0];
  for (size_t i = 1; i < names.size(); ++i) out += ", " + names[i];
  return out;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::Backend> backend;
  torch::Device device{torch::kCPU};
  std::chrono::milliseconds timeout{0};
  std::string name;  // gloo | nccl
  int rank = 0, size = 1;

  // Starts a collective and waits for it; a slack over the backend's own timeout lets its (more precise)
  // error win, the wait bounds backends that have none.
  void run(const char* op, const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
    const auto t0 = Clock::now();
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = start();
    } catch (const std::exception& e) {
      throw Error(str("collective ", op, " ('", what, "') could not start on rank ", rank, "/", size, " (", name,
                      "): ", message_of(e)),
                  ErrorKind::io);
    }
    wait(*work, op, what, t0);
  }

  // Waits for a started collective with the error text of run().
  void wait(c10d::Work& work, const char* op, const std::string& what, Clock::time_point t0) {
    try {
      work.wait(timeout + std::chrono::seconds(2));
    } catch (const std::exception& e) {
      throw Error(str("collective ", op, " ('", what, "') failed on rank ", rank, "/", size, " (", name, ") after ",
                      seconds_since(t0), " s, timeout ", seconds(timeout), " s: ", message_of(e),
                      "\nhint: another rank exited or hangs (its log has the first error); a slow step needs a "
                      "larger --dist_timeout"),
                  ErrorKind::io);
    }
  }

  void check_device(const torch::Tensor& t, const std::string& what) const {
    IMP_CHECK_KIND(t.defined() && t.device().type() == device.type() && t.layout() == torch::kStrided,
                   ErrorKind::usage, what, ": a tensor is ", t.defined() ? t.device().str() : std::string("undefined"),
                   t.defined() && t.layout() != torch::kStrided ? " (sparse)" : "", " but the process group uses ",
                   device.str(), " (", name, "); only dense tensors on that device can be reduced");
  }

  void all_reduce(torch::Tensor& t, c10d::ReduceOp op, const std::string& what, const char* name_of_op = "all_reduce") {
    check_device(t, what);
    std::vector<torch::Tensor> one{t};
    c10d::AllreduceOptions opts;
    opts.reduceOp = op;
    opts.timeout = timeout;
    run(name_of_op, what, [&] { return backend->allreduce(one, opts); });
  }

  void broadcast(torch::Tensor& t, int root, const std::string& what) {
    check_device(t, what);
    std::vector<torch::Tensor> one{t};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.rootTensor = 0;
    opts.timeout = timeout;
    run("broadcast", what, [&] { return backend->broadcast(one, opts); });
  }

  double scalar(double v, c10d::ReduceOp op, const std::string& what) {
    auto t = torch::full({1}, v, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    all_reduce(t, op, what);
    return t.item<double>();
  }
};

ProcessGroup::ProcessGroup(int rank, int size, std::unique_ptr<Impl> impl)
    : rank_(rank), size_(size), impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::create(const LaunchInfo& info, const torch::Device& device,
                                                   std::chrono::milliseconds timeout) {
  IMP_CHECK_KIND(info.world_size >= 1 && info.rank >= 0 && info.rank < info.world_size, ErrorKind::usage,
                 "invalid rank ", info.rank, " for world size ", info.world_size);
  IMP_CHECK_KIND(timeout.count() > 0, ErrorKind::usage, "the distributed timeout must be positive (--dist_timeout)");
  if (info.world_size == 1) return std::shared_ptr<ProcessGroup>(new ProcessGroup(0, 1, nullptr));

  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->timeout = timeout;
  impl->rank = info.rank;
  impl->size = info.world_size;
  impl->name = device.is_cuda() ? "nccl" : "gloo";
  const auto t0 = Clock::now();
  try {
    impl->store = connect_store(info, timeout);
  } catch (const std::exception& e) {
    const bool host = info.rank == 0 && !info.agent_store;
    throw Error(str("rendezvous failed: rank ", info.rank, "/", info.world_size, " could not ",
                    host ? "host" : "reach", " the TCPStore at ", info.master_addr, ":", info.master_port, " (launcher ",
                    info.launcher, ") within ", seconds(timeout), " s: ", message_of(e),
                    "\nhint: every rank needs the same MASTER_ADDR (reachable from all nodes, the node of rank 0), "
                    "the same free MASTER_PORT and WORLD_SIZE, and all WORLD_SIZE ranks must be started; "
                    "--dist_timeout sets how long to wait"),
                ErrorKind::io);
  }
  try {
    check_membership(*impl->store, info, timeout);
    impl->backend = make_backend(impl->store, info, device, timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(str("rendezvous failed: rank ", info.rank, "/", info.world_size, " could not set up the ",
                    impl->name, " backend with the other ranks (store ", info.master_addr, ":", info.master_port,
                    ") after ", seconds_since(t0), " s, timeout ", seconds(timeout), " s: ", message_of(e),
                    "\nhint: a rank exited or was never started, or the ranks disagree on WORLD_SIZE; with several "
                    "network interfaces set GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME"),
                ErrorKind::io);
  }
  return std::shared_ptr<ProcessGroup>(new ProcessGroup(info.rank, info.world_size, std::move(impl)));
}

const std::string& ProcessGroup::backend() const {
  static const std::string none = "none";
  return impl_ ? impl_->name : none;
}

// Flattens tensors per dtype (in order of first appearance) into buckets of at most bucket_bytes (a bigger
// tensor is a bucket of its own), reduces (root < 0) or broadcasts (root >= 0) each, and copies back.
void ProcessGroup::reduce_buckets(std::vector<torch::Tensor>& tensors, size_t bucket_bytes, const std::string& what,
                                  int root) {
  struct Bucket {
    std::vector<size_t> members;
    size_t bytes = 0;
  };
  std::vector<std::vector<size_t>> ready;
  std::vector<torch::ScalarType> order;
  std::map<torch::ScalarType, Bucket> open;
  for (size_t i = 0; i < tensors.size(); ++i) {
    impl_->check_device(tensors[i], what);
    const auto type = tensors[i].scalar_type();
    const size_t nbytes = static_cast<size_t>(tensors[i].numel()) * tensors[i].element_size();
    if (!open.count(type)) order.push_back(type);
    Bucket& b = open[type];
    if (!b.members.empty() && b.bytes + nbytes > bucket_bytes) {
      ready.push_back(std::move(b.members));
      b = Bucket{};
    }
    b.members.push_back(i);
    b.bytes += nbytes;
  }
  for (auto type : order)
    if (!open[type].members.empty()) ready.push_back(std::move(open[type].members));

  for (size_t k = 0; k < ready.size(); ++k) {
    const std::string label = ready.size() == 1 ? what : str(what, " bucket ", k + 1, "/", ready.size());
    const auto& members = ready[k];
    auto run = [&](torch::Tensor& t) {
      if (root < 0)
        impl_->all_reduce(t, c10d::ReduceOp::SUM, label);
      else
        impl_->broadcast(t, root, label);
    };
    if (members.size() == 1 && tensors[members[0]].is_contiguous()) {
      run(tensors[members[0]]);  // in place
      continue;
    }
    std::vector<torch::Tensor> flat_parts;
    for (size_t i : members) flat_parts.push_back(tensors[i].reshape({-1}));
    auto flat = torch::cat(flat_parts);
    run(flat);
    int64_t offset = 0;
    for (size_t i : members) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(flat.narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
  }
}

void ProcessGroup::all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what) {
  if (!impl_ || tensors.empty()) return;
  reduce_buckets(tensors, SIZE_MAX, what, -1);
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
  IMP_CHECK_KIND(root >= 0 && root < size_, ErrorKind::usage, what, ": broadcast root ", root,
                 " is not a rank of this group of ", size_);
  if (!impl_ || tensors.empty()) return;
  reduce_buckets(tensors, SIZE_MAX, what, root);
}

void ProcessGroup::barrier(const std::string& what) {
  if (!impl_) return;
  // An all_reduce of one element on the group's device: every rank must arrive, and NCCL needs no guess of
  // the device (c10d's NCCL barrier guesses it from the rank).
  auto t = torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt32).device(impl_->device));
  impl_->all_reduce(t, c10d::ReduceOp::SUM, what, "barrier");
}

double ProcessGroup::all_reduce_max(double v, const std::string& what) {
  return impl_ ? impl_->scalar(v, c10d::ReduceOp::MAX, what) : v;
}

double ProcessGroup::all_reduce_sum(double v, const std::string& what) {
  return impl_ ? impl_->scalar(v, c10d::ReduceOp::SUM, what) : v;
}

void ProcessGroup::all_reduce_grads(const std::vector<torch::Tensor>& params, size_t bucket_bytes) {
  if (!impl_ || params.empty()) return;
  // Which params have a grad on any rank: the bucket layout must be the same everywhere.
  auto has_grad = torch::zeros({static_cast<int64_t>(params.size())}, torch::kInt32);
  auto flags = has_grad.accessor<int32_t, 1>();
  for (size_t i = 0; i < params.size(); ++i) flags[static_cast<int64_t>(i)] = params[i].grad().defined() ? 1 : 0;
  auto on_device = has_grad.to(impl_->device);
  impl_->all_reduce(on_device, c10d::ReduceOp::SUM, "all_reduce_grads (which params have grads)");
  has_grad = on_device.cpu();
  auto any = has_grad.accessor<int32_t, 1>();

  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (any[static_cast<int64_t>(i)] == 0) continue;
    torch::Tensor p = params[i];  // shares the TensorImpl: setting its grad sets the caller's
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  reduce_buckets(grads, std::max<size_t>(bucket_bytes, 1), "all_reduce_grads", -1);
}

namespace {

struct Done : PendingCollective {
  void wait() override {}
};

// A started c10d work; `after` runs once it is done (e.g. the slice copy of the 1.x reduce_scatter).
struct Started : PendingCollective {
  ProcessGroup::Impl* impl;
  c10::intrusive_ptr<c10d::Work> work;
  const char* op;
  std::string what;
  Clock::time_point t0 = Clock::now();
  std::function<void()> after;
  bool done = false;
  void wait() override {
    if (done) return;
    done = true;
    impl->wait(*work, op, what, t0);
    if (after) after();
  }
};

}  // namespace

std::unique_ptr<PendingCollective> ProcessGroup::all_reduce_async(torch::Tensor flat, const std::string& what) {
  if (!impl_) return std::make_unique<Done>();
  impl_->check_device(flat, what);
  auto s = std::make_unique<Started>();
  s->impl = impl_.get();
  s->op = "all_reduce";
  s->what = what;
  std::vector<torch::Tensor> one{flat};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  opts.timeout = impl_->timeout;
  s->work = impl_->backend->allreduce(one, opts);
  return s;
}

std::unique_ptr<PendingCollective> ProcessGroup::reduce_scatter_async(torch::Tensor flat, torch::Tensor shard,
                                                                      const std::string& what) {
  IMP_CHECK(flat.numel() == shard.numel() * size_ && flat.is_contiguous() && shard.is_contiguous(), what,
            ": reduce_scatter needs a contiguous input of world size x shard elements (", flat.numel(), " vs ",
            shard.numel(), " x ", size_, ")");
  if (!impl_) {
    shard.copy_(flat);
    return std::make_unique<Done>();
  }
  impl_->check_device(flat, what);
  auto s = std::make_unique<Started>();
  s->impl = impl_.get();
  s->what = what;
#if TORCH_VERSION_MAJOR >= 2
  s->op = "reduce_scatter";
  std::vector<torch::Tensor> outputs{shard};
  std::vector<std::vector<torch::Tensor>> inputs(1);
  for (int r = 0; r < size_; ++r) inputs[0].push_back(flat.narrow(0, r * shard.numel(), shard.numel()));
  c10d::ReduceScatterOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  opts.timeout = impl_->timeout;
  s->work = impl_->backend->reduce_scatter(outputs, inputs, opts);
#else
  s->op = "all_reduce (for reduce_scatter)";
  std::vector<torch::Tensor> one{flat};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  opts.timeout = impl_->timeout;
  s->work = impl_->backend->allreduce(one, opts);
  const int64_t offset = rank_ * shard.numel();
  s->after = [flat, shard, offset]() mutable { shard.copy_(flat.narrow(0, offset, shard.numel())); };
#endif
  return s;
}

void ProcessGroup::all_gather(const torch::Tensor& shard, torch::Tensor& flat, const std::string& what) {
  IMP_CHECK(flat.numel() == shard.numel() * size_ && flat.is_contiguous(), what,
            ": all_gather needs an output of world size x shard elements (", flat.numel(), " vs ", shard.numel(),
            " x ", size_, ")");
  if (!impl_) {
    flat.copy_(shard.reshape({-1}));
    return;
  }
  impl_->check_device(shard, what);
  std::vector<torch::Tensor> inputs{shard.contiguous()};
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < size_; ++r) outputs[0].push_back(flat.narrow(0, r * shard.numel(), shard.numel()));
  c10d::AllgatherOptions opts;
  opts.timeout = impl_->timeout;
  impl_->run("all_gather", what, [&] { return impl_->backend->allgather(outputs, inputs, opts); });
}

}  // namespace imp::dist
