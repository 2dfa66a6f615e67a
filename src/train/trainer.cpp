#include "imp/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>

#include "imp/core/compat.h"
#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fault.h"
#include "imp/core/fs.h"
#include "imp/core/proc_memory.h"
#include "imp/data/data_loader.h"
#include "imp/data/dataset.h"
#include "imp/data/preprocess.h"
#include "imp/data/sampler.h"
#include "imp/dist/launch_env.h"
#include "imp/dist/process_group.h"
#include "imp/io/state_dict.h"
#include "imp/models/labelled_loss.h"
#include "imp/nn/autocast.h"
#include "imp/text/tokenizer.h"
#include "imp/train/checkpoint.h"
#include "imp/train/flops.h"
#include "imp/train/grad_sync.h"
#include "imp/train/loss_scaler.h"
#include "imp/train/metrics.h"
#include "imp/train/optimizer.h"
#include "imp/train/schedule.h"
#include "imp/train/signals.h"
#include "imp/train/train_model.h"
#include "imp/train/zero_optimizer.h"

namespace imp::train {
namespace {

namespace fsys = std::filesystem;
using Clock = std::chrono::steady_clock;

torch::Device pick_device(const TrainArgs& a, const dist::LaunchInfo& launch) {
  if (a.device == "cpu") return torch::kCPU;
  if (a.device == "auto") {
    if (!torch::cuda::is_available()) return torch::kCPU;
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank % torch::cuda::device_count()));
  }
  IMP_CHECK_KIND(torch::cuda::is_available(), ErrorKind::usage, "--device ", a.device,
                 ": CUDA is not available in this build or on this machine");
  if (a.device == "cuda") return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank));
  return torch::Device(a.device);
}

// Everything of the run's position that a checkpoint restores.
struct Progress {
  int64_t global_step = 0;    // optimizer steps taken (including skipped ones, as HF counts)
  int64_t sched_step = 0;     // steps actually applied (the schedule advances only on those)
  int64_t micro_batches = 0;  // micro-batches consumed by this rank: epoch = this / micro-batches per epoch
  int64_t skipped_steps = 0;  // non-finite or token-free steps, in total
  int64_t consecutive_skipped = 0;
  int64_t consumed_samples = 0;
};

Json progress_json(const Progress& p) {
  return Json{{"global_step", p.global_step},     {"sched_step", p.sched_step},
              {"micro_batches", p.micro_batches}, {"skipped_steps", p.skipped_steps},
              {"consecutive_skipped", p.consecutive_skipped}, {"consumed_samples", p.consumed_samples}};
}

Progress progress_from(const Json& j) {
  Progress p;
  p.global_step = j.at("global_step").get<int64_t>();
  p.sched_step = j.at("sched_step").get<int64_t>();
  p.micro_batches = j.at("micro_batches").get<int64_t>();
  p.skipped_steps = j.at("skipped_steps").get<int64_t>();
  p.consecutive_skipped = j.at("consecutive_skipped").get<int64_t>();
  p.consumed_samples = j.at("consumed_samples").get<int64_t>();
  return p;
}

torch::Tensor generator_state(const torch::Device& d) {
  auto gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const torch::Device& d, const torch::Tensor& s) {
  auto gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);
}

// Writes a checkpoint file, honouring the IMP_FAULT crash hook (CKPT-1): the file is cut at the given
// byte count and the process dies as if killed mid-write.
// IMP_FAULT_STEP=<n> limits the hook to the checkpoint of step n.
void fault_point(const std::string& path, int64_t step) {
  const int64_t limit = fault_write_limit(fsys::path(path).filename().string());
  if (limit < 0) return;
  const char* only = std::getenv("IMP_FAULT_STEP");
  if (only && std::stoll(only) != step) return;
  fsys::resize_file(path, std::min<uintmax_t>(static_cast<uintmax_t>(limit), fsys::file_size(path)));
  std::cerr << "imp: IMP_FAULT: killed while writing " << path << "\n";
  std::_Exit(137);
}

void check_finite_weights(const TrainModel& tm) {
  for (const auto& p : tm.trainable)
    IMP_CHECK(torch::isfinite(p.tensor).all().item<bool>(), "refusing to save a checkpoint: trainable tensor ",
              p.name, " holds inf/NaN");
}

class Trainer {
 public:
  Trainer(Stage stage, const TrainArgs& a, const std::vector<std::string>& notices) : stage_(stage), a_(a) {
    launch_ = dist::resolve_launch_from_environ(static_cast<int>(a.local_rank));
    device_ = pick_device(a, launch_);
    if (a.num_threads > 0) at::set_num_threads(static_cast<int>(a.num_threads));
    if (device_.is_cuda()) {
      at::globalContext().setAllowTF32CuBLAS(a.tf32);
      at::globalContext().setAllowTF32CuDNN(a.tf32);
    }
    pg_ = dist::ProcessGroup::create(launch_, device_, std::chrono::seconds(a.ddp_timeout));
    main_ = pg_->is_main();
    if (main_) {
      for (const auto& n : notices) std::cerr << "imp: notice: " << n << "\n";
      prepare_output_dir();
    }
    pg_->barrier("output directory setup");
    const bool tensorboard = std::find(a.report_to.begin(), a.report_to.end(), "tensorboard") != a.report_to.end();
    log_ = std::make_unique<MetricsLog>(a.output_dir, main_,
                                        tensorboard ? (a.logging_dir.empty() ? join_path(a.output_dir, "runs")
                                                                             : a.logging_dir)
                                                    : "");
    install_stop_handlers();
  }

  int run() {
    setup();
    resume();
    // The peak reported at the end is that of training: loading the weights (a transient copy of them on the
    // host) is not part of it. Linux resets VmHWM to the current RSS on "5" > /proc/self/clear_refs.
    reset_peak_rss();
    rss_after_load_ = proc_status_bytes("VmRSS");
    const auto t0 = Clock::now();
    int64_t steps_this_run = 0;
    while (progress_.global_step < total_steps_) {
      const int64_t epoch_before = progress_.micro_batches / micro_per_epoch_;
      train_step(t0, steps_this_run);
      ++steps_this_run;
      signal_fault();
      const bool signal = pg_->all_reduce_max(static_cast<double>(stop_signal()), "stop-signal agreement") > 0;
      const bool last = progress_.global_step >= total_steps_;
      const bool new_epoch = progress_.micro_batches / micro_per_epoch_ > epoch_before;
      const bool periodic = (a_.save_strategy == "steps" && a_.save_steps > 0 &&
                             progress_.global_step % a_.save_steps == 0) ||
                            (a_.save_strategy == "epoch" && new_epoch);
      if (signal) {
        log_->note("imp: stop signal received: saving a checkpoint at step " + std::to_string(progress_.global_step) +
                   " and exiting");
        save_checkpoint();
        log_->finish();
        return kExitStoppedBySignal;
      }
      if (periodic && !last) save_checkpoint();
    }
    log_->finish();
    finish(std::chrono::duration<double>(Clock::now() - t0).count(), steps_this_run);
    return 0;
  }

 private:
  void prepare_output_dir() {
    std::error_code ec;
    fsys::create_directories(a_.output_dir, ec);
    IMP_CHECK_KIND(!ec && fsys::is_directory(a_.output_dir), ErrorKind::io, "--output_dir ", a_.output_dir,
                   ": cannot create it: ", ec.message());
    const std::string probe = join_path(a_.output_dir, ".imp-write-test");
    atomic_write(probe, "ok\n");  // throws a clear io error when the folder is not writable
    fsys::remove(probe, ec);
    remove_partial_checkpoints(a_.output_dir);
  }

  void setup() {
    rss_at_setup_ = proc_status_bytes("VmRSS");
    tm_ = build_train_model(a_, stage_, device_);
    set_recompute_policy(*tm_.model, a_, stage_, pg_->size(), device_);
    auto tok = text::Tokenizer::from_path(tm_.tokenizer_dir);
    data::DataArgs d;
    d.data_path = a_.data_path;
    d.image_folder = a_.image_folder;
    d.image_aspect_ratio = a_.image_aspect_ratio;
    d.image_size = tm_.model->config().vision.image_size;
    d.multimodal = true;
    d.text = data::prepare_tokenizer(*tok, a_.version, a_.model_max_length);
    dataset_ = std::make_unique<data::SupervisedDataset>(d, tok);
    IMP_CHECK(dataset_->size() > 0, a_.data_path, ": the dataset is empty");

    sampler_ = a_.group_by_modality_length ? data::SamplerKind::modality_grouped : data::SamplerKind::random;
    if (a_.train_sampler != "auto") sampler_ = data::parse_sampler(a_.train_sampler);
    data_seed_ = static_cast<uint64_t>(a_.data_seed.value_or(a_.seed));
    const auto per_rank = data::rank_batches(
        data::epoch_order(sampler_, dataset_->size(), data_seed_, 0, dataset_->modality_lengths(),
                          a_.per_device_train_batch_size, pg_->size()),
        a_.per_device_train_batch_size, pg_->rank(), pg_->size());
    micro_per_epoch_ = static_cast<int64_t>(per_rank.size());
    steps_per_epoch_ = micro_per_epoch_ / a_.gradient_accumulation_steps;
    IMP_CHECK_KIND(steps_per_epoch_ > 0, ErrorKind::usage, "the dataset (", dataset_->size(), " samples) is smaller "
                   "than one optimizer step (", a_.per_device_train_batch_size, " x ", a_.gradient_accumulation_steps,
                   " x ", pg_->size(), " ranks)");
    total_steps_ = a_.max_steps > 0
                       ? a_.max_steps
                       : static_cast<int64_t>(std::ceil(a_.num_train_epochs * static_cast<double>(steps_per_epoch_)));
    warmup_ = warmup_steps_for(a_.warmup_steps, a_.warmup_ratio, total_steps_);

    LossScalerOptions so;
    so.init_scale = a_.fp16_init_scale;
    so.growth_interval = a_.fp16_growth_interval;
    so.hysteresis = a_.fp16_hysteresis;
    scaler_ = LossScaler(so, a_.fp16);
    params_.clear();
    for (const auto& p : tm_.trainable) params_.push_back(p.tensor);
    {
      torch::NoGradGuard no_grad;
      pg_->broadcast(params_, 0, "initial parameter broadcast");
    }
    setup_optimizer();
    torch::manual_seed(static_cast<uint64_t>(a_.seed + pg_->rank()));  // dropout stream, one per rank
    tm_.model->root().train();

    int64_t n_trainable = 0;
    for (const auto& p : params_) n_trainable += p.numel();
    for (const auto& p : tm_.model->root().parameters()) n_params_ += p.numel();
    if (main_) {
      std::cerr << "imp: " << stage_name(stage_) << " on " << device_.str() << " x " << pg_->size() << " rank(s) ("
                << launch_.launcher << "), " << dataset_->size() << " samples, " << steps_per_epoch_
                << " steps/epoch, " << total_steps_ << " steps, warmup " << warmup_ << ", trainable "
                << n_trainable << " of " << n_params_ << " parameters in " << tm_.groups.size() << " groups\n";
    }
  }

  // Stage 0: AdamW on every rank (gradients all-reduced in overlapped buckets when there are several ranks).
  // Stage 1: ZeRO-1; a full fine-tune with --bf16/--fp16 and --half_base then keeps its trainable weights in
  // that dtype (fp32 masters in the shards).
  // Trainables whose gradient may be accumulated more than once per backward: lm_head and its LoRA (the chunked
  // loss recomputes the head per chunk) and a tied embedding (GradSync starts them after backward).
  std::vector<bool> late_params() {
    std::set<const void*> head;
    for (const auto& np : tm_.model->root().named_parameters())
      if (np.key().find("lm_head") != std::string::npos) head.insert(np.value().unsafeGetTensorImpl());
    std::vector<bool> late;
    for (const auto& p : params_) late.push_back(head.count(p.unsafeGetTensorImpl()) > 0);
    return late;
  }

  void setup_optimizer() {
    const AdamWOptions opts{a_.adam_beta1, a_.adam_beta2, a_.adam_epsilon};
    const auto bucket_bytes = static_cast<size_t>(std::max(1.0, a_.ddp_bucket_cap_mb * 1024 * 1024));
    zero_stage_ = static_cast<int>(a_.resolved_zero_stage());
    if (zero_stage_ == 0) {
      optimizer_ = std::make_unique<AdamW>(tm_.trainable, tm_.groups, opts);
      if (pg_->size() > 1) sync_ = std::make_unique<GradSync>(params_, *pg_, 0, bucket_bytes, late_params());
      return;
    }
    std::vector<torch::Tensor> initial;
    for (const auto& p : params_) initial.push_back(p.detach());
    if (stage_ == Stage::finetune && (a_.bf16 || a_.fp16) && a_.half_base) {
      torch::NoGradGuard no_grad;
      for (auto& p : params_) p.set_data(p.detach().to(a_.fp16 ? torch::kHalf : torch::kBFloat16));
    }
    sync_ = std::make_unique<GradSync>(params_, *pg_, 1, bucket_bytes, late_params());
    zero_ = std::make_unique<ShardedAdamW>(tm_.trainable, tm_.groups, opts, *sync_, *pg_, initial);
  }

  // The optimizer state of checkpoint `dir` (written by `world` ranks) into this run's optimizer.
  void load_optimizer(const std::string& dir, int64_t world) {
    const std::string layout_file = join_path(dir, "zero_layout.json");
    StateDict full;
    if (path_exists(layout_file)) {
      const Json layout = read_json_file(layout_file);
      if (zero_ && layout == zero_->layout()) {  // same ranks, same buckets: this rank's own shard
        const std::string shard = join_path(dir, "optimizer_shard_" + std::to_string(pg_->rank()) + ".safetensors");
        zero_->load_shard_state(load_safetensors(shard), shard);
        return;
      }
      std::vector<StateDict> shards;
      for (int64_t r = 0; r < world; ++r)
        shards.push_back(load_safetensors(join_path(dir, "optimizer_shard_" + std::to_string(r) + ".safetensors")));
      full = full_state_from_shards(layout, shards, dir);
      if (main_)
        std::cerr << "imp: resharding the ZeRO-1 optimizer state of " << dir << " (" << world << " rank(s)) for "
                  << (zero_ ? "ZeRO-1 on " : "replicated AdamW on ") << pg_->size() << " rank(s)\n";
    } else {
      full = load_safetensors(join_path(dir, "optimizer.safetensors"));
    }
    if (zero_) {
      zero_->load_full_state(full, dir);
      return;
    }
    for (auto it = full.begin(); it != full.end();) it = it->first.rfind("master/", 0) == 0 ? full.erase(it) : std::next(it);
    optimizer_->load_state(full, dir);
  }

  void resume() {
    auto warn = [&](const std::string& m) {
      if (main_) std::cerr << "imp: warning: " << m << "\n";
    };
    const auto ref = resolve_resume(a_.resume_from_checkpoint, a_.output_dir, warn);
    const double step = ref ? static_cast<double>(ref->step) : -1.0;
    const double hi = pg_->all_reduce_max(step, "resume agreement");
    const double lo = -pg_->all_reduce_max(-step, "resume agreement");
    IMP_CHECK(hi == lo, "ranks see different checkpoints to resume from (steps ", lo, " and ", hi,
              ")\nhint: output_dir must be on a file system every rank sees");
    if (!ref) return;
    const std::string& dir = ref->path;
    const Json state = read_json_file(join_path(dir, "trainer_state.json"), json_limits::trainer_state);
    const Json& imp = state.at("imp");
    const int64_t world = imp.at("world_size").get<int64_t>();
    IMP_CHECK_KIND(world == pg_->size() || a_.allow_world_size_change, ErrorKind::usage, dir, " was written by ",
                   world, " rank(s); this run has ", pg_->size(),
                   "\nhint: resume with the same number of ranks, or pass --allow_world_size_change (the data order "
                   "and loss curve then differ from an uninterrupted run)");
    IMP_CHECK_KIND(imp.at("stage").get<std::string>() == stage_name(stage_), ErrorKind::usage, dir, " is a ",
                   imp.at("stage").get<std::string>(), " checkpoint; this is ", stage_name(stage_));
    load_trainable_state(tm_, load_safetensors(join_path(dir, "trainable.safetensors")), dir);
    load_optimizer(dir, world);
    scaler_.load_state(imp.at("loss_scaler"), dir);
    progress_ = progress_from(imp.at("progress"));
    log_->set_log_history(state.value("log_history", Json::array()));
    if (world == pg_->size()) {
      const auto rng = load_safetensors(join_path(dir, "rng_state_" + std::to_string(pg_->rank()) + ".safetensors"));
      set_generator_state(torch::kCPU, rng.at("cpu"));
      if (device_.is_cuda() && rng.count("cuda")) set_generator_state(device_, rng.at("cuda"));
    } else {
      // Re-derive the position: as many samples of this epoch consumed, split over the new ranks.
      const int64_t old_batch = imp.at("args").at("per_device_train_batch_size").get<int64_t>();
      progress_.micro_batches = progress_.micro_batches * old_batch * world / (a_.per_device_train_batch_size * pg_->size());
      warn("resuming with " + std::to_string(pg_->size()) + " rank(s) instead of " + std::to_string(world) +
           ": data order and dropout streams differ from the original run");
    }
    if (main_)
      std::cerr << "imp: resumed from " << dir << " (step " << progress_.global_step << ", epoch " << epoch() << ")\n";
  }

  double epoch() const {
    return static_cast<double>(progress_.micro_batches) / static_cast<double>(micro_per_epoch_);
  }

  // The micro-batch stream: epochs back to back (an optimizer step may span two epochs, as in HF 4.41
  // when the micro-batches per epoch are not a multiple of the accumulation steps).
  data::Batch next_micro_batch() {
    const int64_t e = progress_.micro_batches / micro_per_epoch_;
    if (!loader_ || loader_epoch_ != e) {
      const auto order = data::epoch_order(sampler_, dataset_->size(), data_seed_, e, dataset_->modality_lengths(),
                                           a_.per_device_train_batch_size, pg_->size());
      auto batches = data::rank_batches(order, a_.per_device_train_batch_size, pg_->rank(), pg_->size());
      batches.erase(batches.begin(), batches.begin() + progress_.micro_batches % micro_per_epoch_);
      loader_.reset();
      loader_ = std::make_unique<data::DataLoader>(*dataset_, std::move(batches),
                                                   static_cast<int>(a_.dataloader_num_workers));
      loader_epoch_ = e;
    }
    auto batch = loader_->next();
    IMP_CHECK(batch.has_value(), "data loader ran out of batches inside an epoch (internal error)");
    ++progress_.micro_batches;
    return std::move(*batch);
  }

  // One optimizer step: gradient_accumulation_steps micro-batches, then the synchronised update.
  void train_step(Clock::time_point t0, int64_t steps_this_run) {
    const auto step_start = Clock::now();
    const double scale = scaler_.scale();
    // Token-loss sum, label tokens and positions, accumulated on the device (one sync per step, not per
    // micro-batch); samples are known on the host.
    auto counters = torch::zeros({3}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    double samples = 0.0;
    StepShape shape;  // what this rank computed, for the FLOP count
    double data_wait_s = 0.0;
    for (int64_t k = 0; k < a_.gradient_accumulation_steps; ++k) {
      const auto wait_start = Clock::now();
      auto batch = next_micro_batch();
      data_wait_s += std::chrono::duration<double>(Clock::now() - wait_start).count();
      samples += static_cast<double>(batch.indices.size());
      ImpInputs in;
      in.input_ids = batch.input_ids.to(device_);
      in.attention_mask = batch.attention_mask.to(device_);
      in.labels = batch.labels.to(device_);
      if (batch.pixel_values.defined()) in.pixel_values = batch.pixel_values.to(device_);
      in.compute_loss = false;
      in.compute_logits = a_.logits_chunk_size == 0;
      in.pack = a_.packing;
      torch::Tensor token_loss;
      {
        nn::AutocastGuard autocast(a_.bf16 || a_.fp16, device_.type(), a_.fp16 ? torch::kHalf : torch::kBFloat16);
        auto out = tm_.model->forward(in);
        auto labels = out.labels.slice(1, 1).reshape({-1});
        if (in.compute_logits) {  // the reference path: logits for every position
          const int64_t vocab = out.logits.size(-1);
          auto logits = out.logits.slice(1, 0, -1).reshape({-1, vocab}).to(torch::kFloat32);
          token_loss = torch::nn::functional::cross_entropy(
              logits, labels,
              torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kSum));
        } else {
          token_loss = labelled_loss_sum(*tm_.model->lm, out.hidden, out.labels, a_.logits_chunk_size);
        }
        counters += torch::stack({token_loss.detach().to(torch::kFloat64), labels.ne(kIgnoreIndex).sum().to(torch::kFloat64),
                                  out.attention_mask.sum().to(torch::kFloat64)});
        if (out.packed_lengths.empty())
          shape.add_rows(out.attention_mask.size(0), out.attention_mask.size(1), 0);
        for (const int64_t n : out.packed_lengths) shape.add_rows(1, n, 0);
        shape.images += in.pixel_values.defined() ? in.pixel_values.size(0) : 0;
      }
      if (sync_ && k + 1 == a_.gradient_accumulation_steps) sync_->arm();  // buckets start during this backward
      (scale == 1.0 ? token_loss : token_loss * scale).backward();
      report_recompute_plan();
    }

    // Σ over ranks of gradients, token-loss sums and token counts; grads are then divided by the total
    // token count (and the loss scale), so an all-masked micro-batch or rank contributes 0, never NaN.
    const std::string at_step = " at step " + std::to_string(progress_.global_step + 1);
    if (sync_) {
      sync_->set_label(at_step);
      sync_->finish();
      if (main_ && !reported_sync_) {
        reported_sync_ = true;
        std::cerr << "imp: gradient sync: " << (zero_ ? "ZeRO-1 reduce_scatter" : "all_reduce") << " in "
                  << sync_->buckets().size() << " bucket(s), " << sync_->overlapped_buckets()
                  << " started during backward\n";
      }
    } else {
      for (auto& p : params_)
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
    inject_fault();
    std::vector<torch::Tensor> totals = {
        torch::cat({counters, torch::tensor({samples}, counters.options())})};
    pg_->all_reduce_sum(totals, "loss and token counts" + at_step);
    const auto t = totals[0].cpu();
    const double total_loss = t[0].item<double>(), total_tokens = t[1].item<double>(),
                 total_positions = t[2].item<double>(), total_samples = t[3].item<double>();

    bool apply = total_tokens > 0;
    {
      torch::NoGradGuard no_grad;
      const double inv = apply ? 1.0 / (total_tokens * scale) : 0.0;
      if (zero_)
        zero_->scale_grads(inv);
      else
        for (auto& p : params_) p.mutable_grad().mul_(inv);
    }
    const double grad_norm = zero_ ? zero_->clip_grad_norm(a_.max_grad_norm) : clip_grad_norm(params_, a_.max_grad_norm);
    if (!std::isfinite(grad_norm)) apply = false;
    const double factor = lr_factor(a_.lr_scheduler_type, progress_.sched_step, warmup_, total_steps_);
    if (apply) {
      if (zero_)
        zero_->step(factor);
      else
        optimizer_->step(factor);
      ++progress_.sched_step;
      progress_.consecutive_skipped = 0;
    } else {
      ++progress_.skipped_steps;
      ++progress_.consecutive_skipped;
      log_->note("imp: step " + std::to_string(progress_.global_step + 1) + " skipped (" +
                 (total_tokens > 0 ? "non-finite gradients" : "no label tokens") +
                 (scaler_.enabled() ? ", loss scale " + std::to_string(scaler_.scale()) : std::string()) + ")");
      IMP_CHECK(a_.max_skipped_steps <= 0 || progress_.consecutive_skipped < a_.max_skipped_steps,
                "training diverged: ", progress_.consecutive_skipped, " consecutive steps had non-finite gradients "
                "(last at step ", progress_.global_step + 1, ")\nhint: lower --learning_rate, use --bf16 instead "
                "of --fp16, or check the data; the last committed checkpoint is intact");
    }
    if (total_tokens > 0) scaler_.update(!apply);
    if (optimizer_) optimizer_->zero_grad();  // ZeRO-1: GradSync::finish released them
    ++progress_.global_step;
    progress_.consumed_samples += static_cast<int64_t>(total_samples);

    // Report.
    const double step_s = std::chrono::duration<double>(Clock::now() - step_start).count();
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const bool log_now = a_.logging_steps >= 1
                             ? progress_.global_step % static_cast<int64_t>(a_.logging_steps) == 0
                             : progress_.global_step % std::max<int64_t>(1, static_cast<int64_t>(std::ceil(
                                   a_.logging_steps * static_cast<double>(total_steps_)))) == 0;
    if (log_now || progress_.global_step == total_steps_) {
      StepMetrics m;
      m.step = progress_.global_step;
      m.total_steps = total_steps_;
      m.epoch = epoch();
      m.loss = total_tokens > 0 ? total_loss / total_tokens : 0.0;
      m.learning_rate = tm_.groups.front().lr * factor;
      m.grad_norm = grad_norm;
      m.tokens_per_s = total_positions / step_s;
      m.samples_per_s = total_samples / step_s;
      m.loss_scale = scaler_.scale();
      m.data_wait_s = data_wait_s;
      m.skipped_steps = progress_.skipped_steps;
      m.eta_s = elapsed / static_cast<double>(steps_this_run + 1) *
                static_cast<double>(total_steps_ - progress_.global_step);
      // MFU of this rank's work (ranks do the same work on the same devices); include/imp/train/flops.h.
      const auto peak = peak_flops(device_, a_.fp16 ? torch::kHalf : a_.bf16 ? torch::kBFloat16 : torch::kFloat32);
      if (a_.logits_chunk_size > 0) shape.scored = static_cast<int64_t>(counters[1].item<double>());  // this rank's
      if (peak.flops_per_s > 0)
        m.mfu = train_step_flops(tm_.model->root(), tm_.model->config(), shape,
                                 static_cast<double>(tm_.model->lm->last_full_layers()) /
                                     static_cast<double>(tm_.model->lm->num_layers()),
                                 tm_.model->lm->recompute.selective)
                    .model /
                step_s / peak.flops_per_s;
      log_->log(m);
      last_loss_ = m.loss;
    }
    if (a_.max_bad_fraction >= 0 && dataset_->bad_count() > 0) {
      const double frac = static_cast<double>(dataset_->bad_count()) / static_cast<double>(dataset_->size());
      IMP_CHECK(frac <= a_.max_bad_fraction, a_.data_path, ": ", dataset_->bad_count(), " bad samples (",
                frac * 100, "%) exceed --max_bad_fraction ", a_.max_bad_fraction,
                "\nhint: run `imp data check` on the dataset; the last committed checkpoint is intact");
    }
  }

  // --gradient_checkpointing auto: what the memory plan chose, whenever it changes.
  void report_recompute_plan() {
    const auto& lm = *tm_.model->lm;
    if (!lm.recompute.plan || !main_ || lm.last_full_layers() == reported_full_layers_) return;
    reported_full_layers_ = lm.last_full_layers();
    log_->note("imp: gradient_checkpointing auto: " + std::to_string(reported_full_layers_) + " of " +
               std::to_string(lm.num_layers()) + " decoder layers recomputed whole, the rest selectively (" +
               lm.recompute_plan_description + ")");
  }

  // Test hooks (reliability.md NUM-1, NUM-4, FT-1), read from IMP_FAULT:
  //   nan_grad:<step> | inf_grad:<step>  poison one gradient at that step
  //   nan_grad_from:<step>               poison every step from there on
  //   signal_at:<step>[:<rank>]          raise SIGTERM after that step (on one rank, or all)
  void signal_fault() {
    const std::string spec = fault_argument("signal_at");
    if (spec.empty()) return;
    const auto colon = spec.find(':');
    const int64_t step = std::stoll(spec.substr(0, colon));
    const bool rank_ok = colon == std::string::npos || std::stoi(spec.substr(colon + 1)) == pg_->rank();
    if (step == progress_.global_step && rank_ok) std::raise(SIGTERM);
  }

  void inject_fault() {
    for (const std::string_view kind : {"nan_grad", "inf_grad", "nan_grad_from"}) {
      const std::string spec = fault_argument(kind);
      if (spec.empty()) continue;
      const int64_t at = std::stoll(spec), step = progress_.global_step + 1;
      if (kind == "nan_grad_from" ? step < at : step != at) continue;
      torch::NoGradGuard no_grad;
      auto& g = zero_ ? sync_->shard(0) : params_.front().mutable_grad();
      if (!g.defined()) g = torch::zeros_like(params_.front());
      g.view(-1)[0] = kind[0] == 'n' ? std::nan("") : INFINITY;
    }
  }

  Json trainer_state(bool final_state) const {
    Json s = {{"best_metric", nullptr},
              {"best_model_checkpoint", nullptr},
              {"epoch", epoch()},
              {"eval_steps", nullptr},
              {"global_step", progress_.global_step},
              {"is_hyper_param_search", false},
              {"is_local_process_zero", true},
              {"is_world_process_zero", true},
              {"log_history", log_->log_history()},
              {"logging_steps", a_.logging_steps},
              {"max_steps", total_steps_},
              {"num_input_tokens_seen", 0},
              {"num_train_epochs", static_cast<int64_t>(std::ceil(static_cast<double>(total_steps_) /
                                                                  static_cast<double>(steps_per_epoch_)))},
              {"save_steps", a_.save_steps},
              {"total_flos", 0},
              {"train_batch_size", a_.per_device_train_batch_size},
              {"trial_name", nullptr},
              {"trial_params", nullptr}};
    s["imp"] = {{"version", "0.1.0"},
                {"libtorch", compat::torch_version()},
                {"stage", stage_name(stage_)},
                {"world_size", pg_->size()},
                {"zero_stage", zero_stage_},
                {"num_threads", at::get_num_threads()},
                {"progress", progress_json(progress_)},
                {"loss_scaler", scaler_.state()},
                {"schedule", {{"type", a_.lr_scheduler_type}, {"warmup_steps", warmup_}, {"total_steps", total_steps_}}},
                {"args", a_.to_json()},
                {"final", final_state}};
    return s;
  }

  void save_checkpoint() {
    const int64_t step = progress_.global_step;
    std::string dir;
    if (main_) {
      check_finite_weights(tm_);
      dir = begin_checkpoint(a_.output_dir, step);
    }
    pg_->barrier("checkpoint " + std::to_string(step) + ": folder");
    if (!main_) dir = join_path(a_.output_dir, ".checkpoint-" + std::to_string(step) + ".partial");
    StateDict rng = {{"cpu", generator_state(torch::kCPU)}};
    if (device_.is_cuda()) rng.emplace("cuda", generator_state(device_));
    const std::string rng_file = join_path(dir, "rng_state_" + std::to_string(pg_->rank()) + ".safetensors");
    save_safetensors(rng_file, rng);
    fault_point(rng_file, step);
    if (zero_) {
      StateDict shard;
      for (const auto& [k, t] : zero_->shard_state()) shard.emplace(k, t.detach().cpu().contiguous());
      const std::string shard_file = join_path(dir, "optimizer_shard_" + std::to_string(pg_->rank()) + ".safetensors");
      save_safetensors(shard_file, shard);
      fault_point(shard_file, step);
    }
    if (main_) {
      StateDict weights;
      for (const auto& [k, t] : trainable_state(tm_)) weights.emplace(k, t.detach().cpu().contiguous());
      save_safetensors(join_path(dir, "trainable.safetensors"), weights);
      fault_point(join_path(dir, "trainable.safetensors"), step);
      if (zero_) {
        write_json_file(join_path(dir, "zero_layout.json"), zero_->layout());
      } else {
        StateDict opt;
        for (const auto& [k, t] : optimizer_->state()) opt.emplace(k, t.detach().cpu().contiguous());
        save_safetensors(join_path(dir, "optimizer.safetensors"), opt);
        fault_point(join_path(dir, "optimizer.safetensors"), step);
      }
      write_json_file(join_path(dir, "trainer_state.json"), trainer_state(false));
      fault_point(join_path(dir, "trainer_state.json"), step);
      write_json_file(join_path(dir, "config.json"), tm_.config);
    }
    pg_->barrier("checkpoint " + std::to_string(step) + ": files written");
    if (main_) {
      const std::string path = commit_checkpoint(a_.output_dir, step);
      if (a_.save_total_limit) rotate_checkpoints(a_.output_dir, *a_.save_total_limit);
      log_->note("imp: saved " + path);
    }
    pg_->barrier("checkpoint " + std::to_string(step) + ": commit");
  }

  void finish(double seconds, int64_t steps_this_run) {
    if (main_) {
      check_finite_weights(tm_);
      save_stage_outputs(tm_, a_, stage_, a_.output_dir);
      Json state = trainer_state(true);
      state["log_history"].push_back(Json{{"epoch", state["epoch"]},
                                          {"step", progress_.global_step},
                                          {"train_loss", last_loss_},
                                          {"train_runtime", seconds},
                                          {"train_steps_per_second", steps_this_run / std::max(seconds, 1e-9)},
                                          {"total_flos", 0}});
      write_json_file(join_path(a_.output_dir, "trainer_state.json"), state);
      std::cerr << "imp: " << stage_name(stage_) << " done: " << progress_.global_step << " steps in "
                << format_duration(seconds) << ", outputs in " << a_.output_dir << "\n";
      // What --print_memory_plan predicts for a CPU run (bench/memory_plan_check.sh compares the two).
      const int64_t peak = proc_status_bytes("VmHWM");
      if (peak > 0 && rss_at_setup_ > 0)
        std::cerr << "imp: host memory: peak RSS " << peak / (1 << 20) << " MiB, " << (peak - rss_at_setup_) / (1 << 20)
                  << " MiB above the RSS before the model was built (peak of the training steps, after loading; "
                  << (rss_after_load_ - rss_at_setup_) / (1 << 20) << " MiB when they began)\n";
    }
    pg_->barrier("final save");
  }

  Stage stage_;
  TrainArgs a_;
  dist::LaunchInfo launch_;
  torch::Device device_{torch::kCPU};
  std::shared_ptr<dist::ProcessGroup> pg_;
  bool main_ = true;
  std::unique_ptr<MetricsLog> log_;
  TrainModel tm_;
  std::unique_ptr<data::SupervisedDataset> dataset_;
  data::SamplerKind sampler_ = data::SamplerKind::random;
  uint64_t data_seed_ = 0;
  int64_t micro_per_epoch_ = 0, steps_per_epoch_ = 0, total_steps_ = 0, warmup_ = 0, n_params_ = 0;
  std::unique_ptr<data::DataLoader> loader_;
  int64_t loader_epoch_ = -1;
  std::unique_ptr<AdamW> optimizer_;          // ZeRO stage 0
  std::unique_ptr<GradSync> sync_;            // several ranks, or ZeRO-1
  std::unique_ptr<ShardedAdamW> zero_;        // ZeRO stage 1
  int zero_stage_ = 0;
  bool reported_sync_ = false;
  LossScaler scaler_{LossScalerOptions{}, false};
  std::vector<torch::Tensor> params_;
  Progress progress_;
  double last_loss_ = 0.0;
  int64_t reported_full_layers_ = -1;
  int64_t rss_at_setup_ = -1, rss_after_load_ = -1;
};

}  // namespace

int run_training(Stage stage, const TrainArgs& args, const std::vector<std::string>& notices) {
  Trainer t(stage, args, notices);
  return t.run();
}

}  // namespace imp::train
