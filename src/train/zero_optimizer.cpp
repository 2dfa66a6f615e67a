#include "imp/train/zero_optimizer.h"

#include <cmath>

#include "imp/core/dtype.h"
#include "imp/core/error.h"

namespace imp::train {

ShardedAdamW::ShardedAdamW(std::vector<NamedParam> params, std::vector<ParamGroup> groups, AdamWOptions o,
                           GradSync& sync, dist::ProcessGroup& pg, const std::vector<torch::Tensor>& initial)
    : params_(std::move(params)), groups_(std::move(groups)), o_(o), sync_(sync), pg_(pg) {
  torch::NoGradGuard no_grad;
  IMP_CHECK(initial.size() == params_.size(), "ShardedAdamW: ", initial.size(), " initial values for ",
            params_.size(), " parameters");
  const int rank = pg_.rank();
  for (const auto& bucket : sync_.buckets()) {
    const int64_t n = bucket.shard_numel(), lo = rank * n, hi = lo + n;
    std::vector<Segment> segs;
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(params_[bucket.params[0]].tensor.device());
    auto master = torch::zeros({n}, opts);
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const size_t i = bucket.params[k];
      const int64_t begin = std::max(lo, bucket.offsets[k]),
                    end = std::min(hi, bucket.offsets[k] + params_[i].tensor.numel());
      if (begin >= end) continue;
      segs.push_back({i, begin - bucket.offsets[k], begin - lo, end - begin});
      master.narrow(0, begin - lo, end - begin)
          .copy_(initial[i].detach().reshape({-1}).narrow(0, begin - bucket.offsets[k], end - begin));
    }
    segments_.push_back(std::move(segs));
    master_.push_back(master);
    exp_avg_.push_back(torch::zeros({n}, opts));
    exp_avg_sq_.push_back(torch::zeros({n}, opts));
  }
}

void ShardedAdamW::scale_grads(double factor) {
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < master_.size(); ++b) sync_.shard(b).mul_(factor);
}

double ShardedAdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  double sq = 0.0;
  for (size_t b = 0; b < master_.size(); ++b)
    sq += sync_.shard(b).to(torch::kFloat32).pow(2).sum().item<double>();
  const double total = std::sqrt(pg_.all_reduce_sum(sq, "gradient norm"));
  if (max_norm > 0 && std::isfinite(total)) {
    const double coef = std::min(1.0, max_norm / (total + 1e-6));
    for (size_t b = 0; b < master_.size(); ++b) sync_.shard(b).mul_(coef);
  }
  return total;
}

void ShardedAdamW::step(double lr_factor) {
  torch::NoGradGuard no_grad;
  ++step_;
  const auto& buckets = sync_.buckets();
  for (size_t b = 0; b < buckets.size(); ++b) {
    const auto grad = sync_.shard(b).to(torch::kFloat32);
    for (const auto& s : segments_[b]) {
      const ParamGroup& g = groups_[params_[s.param].group];
      auto w = master_[b].narrow(0, s.shard_offset, s.length);
      auto m = exp_avg_[b].narrow(0, s.shard_offset, s.length);
      auto v = exp_avg_sq_[b].narrow(0, s.shard_offset, s.length);
      adamw_update(w, m, v, grad.narrow(0, s.shard_offset, s.length), g.lr * lr_factor, g.weight_decay, step_, o_);
    }
    // Every rank's updated slice back into the parameters.
    auto flat = torch::empty({buckets[b].padded}, master_[b].options().dtype(buckets[b].dtype));
    pg_.all_gather(master_[b].to(buckets[b].dtype), flat, "parameters bucket " + std::to_string(b + 1));
    for (size_t k = 0; k < buckets[b].params.size(); ++k) {
      auto& p = params_[buckets[b].params[k]].tensor;
      p.view({-1}).copy_(flat.narrow(0, buckets[b].offsets[k], p.numel()));
    }
  }
}

Json ShardedAdamW::layout() const {
  Json buckets = Json::array();
  for (const auto& bucket : sync_.buckets()) {
    Json members = Json::array();
    for (size_t i : bucket.params)
      members.push_back(Json{{"name", params_[i].name}, {"shape", params_[i].tensor.sizes().vec()}});
    buckets.push_back(Json{{"dtype", dtype_to_string(bucket.dtype)}, {"padded", bucket.padded}, {"params", members}});
  }
  return Json{{"format", "imp-zero-1"}, {"world_size", pg_.size()}, {"buckets", buckets}};
}

StateDict ShardedAdamW::shard_state() const {
  StateDict sd;
  for (size_t b = 0; b < master_.size(); ++b) {
    const std::string k = std::to_string(b);
    sd.emplace("exp_avg/" + k, exp_avg_[b]);
    sd.emplace("exp_avg_sq/" + k, exp_avg_sq_[b]);
    sd.emplace("master/" + k, master_[b]);
  }
  sd.emplace("step", torch::tensor(step_, torch::kInt64));
  return sd;
}

void ShardedAdamW::load_shard_state(const StateDict& sd, const std::string& origin) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& key, int64_t numel) -> const torch::Tensor& {
    auto it = sd.find(key);
    IMP_CHECK(it != sd.end(), origin, ": optimizer shard misses '", key, "'");
    IMP_CHECK(numel < 0 || it->second.numel() == numel, origin, ": optimizer shard '", key, "' has ",
              it->second.numel(), " elements, expected ", numel);
    return it->second;
  };
  IMP_CHECK(sd.size() == 3 * master_.size() + 1, origin, ": optimizer shard has ", sd.size(), " tensors, expected ",
            3 * master_.size() + 1);
  for (size_t b = 0; b < master_.size(); ++b) {
    const std::string k = std::to_string(b);
    exp_avg_[b].copy_(get("exp_avg/" + k, exp_avg_[b].numel()));
    exp_avg_sq_[b].copy_(get("exp_avg_sq/" + k, exp_avg_sq_[b].numel()));
    master_[b].copy_(get("master/" + k, master_[b].numel()));
  }
  step_ = get("step", 1).item<int64_t>();
}

void ShardedAdamW::load_full_state(const StateDict& full, const std::string& origin) {
  torch::NoGradGuard no_grad;
  auto get = [&](const std::string& key, const torch::Tensor& like) -> torch::Tensor {
    auto it = full.find(key);
    IMP_CHECK(it != full.end(), origin, ": optimizer state misses '", key,
              "'\nhint: the checkpoint was written for other trainable parameters (different stage or LoRA targets)");
    IMP_CHECK(it->second.numel() == like.numel(), origin, ": optimizer state '", key, "' has ", it->second.numel(),
              " elements, the parameter ", like.numel());
    return it->second.reshape({-1}).to(torch::kFloat32);
  };
  int64_t step = -1;
  for (const auto& p : params_) {
    auto it = full.find("step/" + p.name);
    IMP_CHECK(it != full.end(), origin, ": optimizer state misses 'step/", p.name, "'");
    const int64_t s = it->second.item<int64_t>();
    IMP_CHECK(step < 0 || s == step, origin, ": parameters have different AdamW step counts (", step, " and ", s,
              " at ", p.name, "); ZeRO-1 keeps one count");
    step = s;
  }
  step_ = std::max<int64_t>(step, 0);
  for (size_t b = 0; b < segments_.size(); ++b) {
    for (const auto& s : segments_[b]) {
      const auto& p = params_[s.param];
      auto slice = [&](const torch::Tensor& t) { return t.narrow(0, s.param_offset, s.length); };
      exp_avg_[b].narrow(0, s.shard_offset, s.length).copy_(slice(get("exp_avg/" + p.name, p.tensor)));
      exp_avg_sq_[b].narrow(0, s.shard_offset, s.length).copy_(slice(get("exp_avg_sq/" + p.name, p.tensor)));
      const bool has_master = full.count("master/" + p.name) > 0;
      master_[b].narrow(0, s.shard_offset, s.length)
          .copy_(slice(has_master ? get("master/" + p.name, p.tensor) : p.tensor.detach().reshape({-1})));
    }
  }
}

StateDict full_state_from_shards(const Json& layout, const std::vector<StateDict>& shards, const std::string& origin) {
  const auto world = layout.at("world_size").get<size_t>();
  IMP_CHECK(shards.size() == world, origin, ": ", shards.size(), " optimizer shards for a world size of ", world);
  StateDict out;
  const auto& buckets = layout.at("buckets");
  for (size_t b = 0; b < buckets.size(); ++b) {
    const std::string k = std::to_string(b);
    for (const char* kind : {"exp_avg/", "exp_avg_sq/", "master/"}) {
      std::vector<torch::Tensor> parts;
      for (size_t r = 0; r < world; ++r) {
        auto it = shards[r].find(kind + k);
        IMP_CHECK(it != shards[r].end(), origin, ": optimizer_shard_", r, " misses '", kind, k, "'");
        parts.push_back(it->second.reshape({-1}));
      }
      const auto flat = torch::cat(parts);
      IMP_CHECK(flat.numel() == buckets[b].at("padded").get<int64_t>(), origin, ": bucket ", b, " has ",
                flat.numel(), " elements over the shards, the layout says ", buckets[b].at("padded").get<int64_t>());
      int64_t offset = 0;
      for (const auto& m : buckets[b].at("params")) {
        const auto shape = m.at("shape").get<std::vector<int64_t>>();
        int64_t n = 1;
        for (auto d : shape) n *= d;
        out[kind + m.at("name").get<std::string>()] = flat.narrow(0, offset, n).reshape(shape).clone();
        offset += n;
      }
    }
  }
  const auto step = shards[0].at("step");
  for (const auto& bucket : buckets)
    for (const auto& m : bucket.at("params")) out["step/" + m.at("name").get<std::string>()] = step.clone();
  return out;
}

}  // namespace imp::train
