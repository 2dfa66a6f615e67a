// The demo's subcommands: demo-data (synthetic dataset, needs OpenCV), create-model (random model
// directories), demo-score (accuracy table of the demo evaluation) and loss-curve (sparkline / PNG of
// training runs' losses).
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "imp/cli/registry.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/demo/create_model.h"
#include "imp/demo/loss_curve.h"
#include "imp/demo/score.h"
#ifdef IMP_WITH_OPENCV
#include "imp/demo/demo_data.h"
#endif

namespace imp::cli {
namespace {

struct DemoScoreOptions {
  std::vector<std::string> answers;
  std::vector<std::string> labels;
  std::string gt;
  std::string categories;  // default: categories.json beside --gt, when present
  bool json = false;
};

int run_demo_score(const DemoScoreOptions& o) {
  IMP_CHECK_KIND(o.labels.empty() || o.labels.size() == o.answers.size(), ErrorKind::usage, "demo-score: give one --label per --answers (",
                 o.answers.size(), " answers files, ", o.labels.size(), " labels)");
  std::string categories = o.categories;
  if (categories.empty()) {
    const std::string beside = join_path(std::filesystem::path(o.gt).parent_path().string(), "categories.json");
    if (path_exists(beside)) categories = beside;
  }
  std::vector<demo::ScoreReport> reports;
  std::vector<std::string> labels = o.labels;
  for (size_t i = 0; i < o.answers.size(); ++i) {
    reports.push_back(demo::score_answers(o.answers[i], o.gt, categories));
    if (o.labels.empty()) labels.push_back(o.answers.size() == 1 ? "accuracy" : std::filesystem::path(o.answers[i]).stem().string());
  }
  if (o.json) {
    Json out = Json::object();
    for (size_t i = 0; i < reports.size(); ++i) out[labels[i]] = demo::to_json(reports[i]);
    std::cout << (reports.size() == 1 ? demo::to_json(reports[0]) : out).dump(2) << "\n";
  } else {
    std::cout << demo::format_table(reports, labels);
    for (size_t i = 0; i < reports.size(); ++i) {
      if (reports[i].overall.missing > 0)
        std::cout << labels[i] << ": " << reports[i].overall.missing << " questions have no answer (counted wrong)\n";
      if (reports[i].extra > 0)
        std::cout << labels[i] << ": " << reports[i].extra << " answers are for questions not in " << o.gt << "\n";
    }
  }
  return 0;
}

struct LossCurveOptions {
  std::vector<std::string> runs;
  std::vector<std::string> labels;
  std::string png;
  int width = 60;
};

int run_loss_curve(const LossCurveOptions& o) {
  IMP_CHECK_KIND(o.labels.empty() || o.labels.size() == o.runs.size(), ErrorKind::usage,
                 "loss-curve: give one --label per run (", o.runs.size(), " runs, ", o.labels.size(), " labels)");
  IMP_CHECK_KIND(o.width >= 1 && o.width <= 1000, ErrorKind::usage, "loss-curve: --width ", o.width,
                 " is out of range [1, 1000]");
  std::vector<demo::LossCurve> curves;
  for (size_t i = 0; i < o.runs.size(); ++i) {
    const std::string label = o.labels.empty() ? base_name(o.runs[i]) : o.labels[i];
    curves.push_back(demo::read_loss_curve(o.runs[i], label));
  }
  std::cout << demo::format_loss_curves(curves, o.width);
  if (!o.png.empty()) {
#ifdef IMP_WITH_OPENCV
    demo::write_loss_plot_png(curves, o.png);
    std::cout << "loss-curve: wrote " << o.png << "\n";
#else
    IMP_CHECK_KIND(false, ErrorKind::usage, "loss-curve: --png needs a build with OpenCV (libopencv-dev)");
#endif
  }
  return 0;
}

}  // namespace

void add_demo_commands(CLI::App& root, Commands& out) {
#ifdef IMP_WITH_OPENCV
  auto data = std::make_shared<demo::DemoDataOptions>();
  auto* c_data = root.add_subcommand("demo-data", "Write the demo's synthetic shapes dataset (images, stage-1 "
                                                  "captions, stage-2 conversations, held-out questions)");
  c_data->add_option("--out", data->out, "output directory")->required();
  c_data->add_option("--seed", data->seed, "random seed (same seed -> same dataset)")->capture_default_str();
  c_data->add_option("--train", data->train, "training conversations (about 93% with an image)")->capture_default_str();
  c_data->add_option("--eval", data->eval, "held-out evaluation questions (one image each)")->capture_default_str();
  c_data->add_option("--image-size,--image_size", data->image_size, "image width and height in pixels")
      ->capture_default_str();
  out.push_back({c_data, [data] {
                   const auto s = demo::generate_demo_data(*data);
                   auto kind = [&](const char* k) { return s.finetune_kinds.count(k) ? s.finetune_kinds.at(k) : 0; };
                   std::cout << "demo-data: " << data->out << ": " << s.train_images << " training images, "
                             << s.pretrain_samples << " captions (pretrain.json), " << s.finetune_samples
                             << " conversations (finetune.json: " << kind("single") << " single, " << kind("multi")
                             << " multi-turn, " << kind("describe") << " describe, " << kind("text")
                             << " text-only), " << s.eval_questions << " evaluation questions (eval/)\n";
                   return 0;
                 }});
#endif

  auto create = std::make_shared<demo::CreateModelOptions>();
  auto* c_create = root.add_subcommand("create-model", "Write a randomly initialised model directory (decoder, "
                                                       "SigLIP tower or whole Imp model) from a config");
  c_create->add_option("--config", create->config, "config.json to build (e.g. configs/models/demo-phi2.json)")
      ->required();
  c_create->add_option("--output", create->output, "model directory to write")->required();
  c_create->add_option("--tokenizer", create->tokenizer, "directory with HF tokenizer files to copy (decoders)");
  c_create->add_option("--vision-tower,--vision_tower", create->vision_tower,
                       "SigLIP directory: make an Imp model (decoder + this tower + new projector) from a decoder config");
  c_create->add_option("--seed", create->seed, "random seed (same seed -> identical files)")->capture_default_str();
  c_create->add_option("--dtype", create->dtype, "float32 | bfloat16 | float16")->capture_default_str();
  c_create->add_option("--tower-init", create->tower_init,
                       "SigLIP towers: random (N(0, initializer_range)) | designed (the demo's stand-in for a "
                       "pretrained tower: edges, colour and an image summary in every token; docs/demo.md)")
      ->check(CLI::IsMember({"random", "designed"}))
      ->capture_default_str();
  c_create->add_flag("--force", create->force, "overwrite an existing model directory");
  out.push_back({c_create, [create] {
                   const auto r = demo::create_model(*create);
                   std::cout << "create-model: " << create->output << ": " << r.tensors << " tensors, " << r.parameters
                             << " parameters, N(0, " << r.initializer_range << ") init"
                             << (create->tower_init == "designed" ? " (stem, layers 0-1 designed)" : "") << ", seed "
                             << create->seed << "\n"
                             << r.summary << "\n";
                   return 0;
                 }});

  auto score = std::make_shared<DemoScoreOptions>();
  auto* c_score = root.add_subcommand("demo-score", "Accuracy of demo evaluation answers per category, with "
                                                    "chance and majority baselines");
  c_score->add_option("--answers", score->answers, "answers file(s) (JSON Lines, model_vqa_loader format); "
                                                   "repeat to compare runs")->required();
  c_score->add_option("--label", score->labels, "column name for each --answers (e.g. before, after)");
  c_score->add_option("--gt", score->gt, "ground truth (eval/answers_gt.jsonl of demo-data)")->required();
  c_score->add_option("--categories", score->categories,
                      "categories.json with chance levels (default: the one beside --gt)");
  c_score->add_flag("--json", score->json, "print JSON instead of the table");
  out.push_back({c_score, [score] { return run_demo_score(*score); }});

  auto curve = std::make_shared<LossCurveOptions>();
  auto* c_curve = root.add_subcommand("loss-curve", "Training loss of runs (their metrics.jsonl) as a terminal "
                                                    "sparkline and optionally a PNG plot");
  c_curve->add_option("runs", curve->runs, "training output directories or metrics.jsonl files")->required();
  c_curve->add_option("--label", curve->labels, "name of each run (default: its directory name)");
  c_curve->add_option("--png", curve->png, "also draw the curves into this PNG file");
  c_curve->add_option("--width", curve->width, "sparkline characters")->capture_default_str();
  out.push_back({c_curve, [curve] { return run_loss_curve(*curve); }});
}

}  // namespace imp::cli
