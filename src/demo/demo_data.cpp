// Writes the demo dataset (see demo_data.h and docs/demo.md for the layout).
#include "imp/demo/demo_data.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/demo/questions.h"
#include "imp/demo/render.h"

namespace imp::demo {
namespace {

using OJson = nlohmann::ordered_json;

// Seed streams: items are drawn independently, so train item i does not depend on --eval and vice versa.
constexpr uint64_t kTrainStream = 1, kEvalStream = 2;

std::string numbered(const std::string& prefix, int64_t i, const std::string& suffix = "") {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(i));
  return prefix + buf + suffix;
}

std::string jsonl(const std::vector<OJson>& rows) {
  std::string out;
  for (const auto& r : rows) out += r.dump() + "\n";
  return out;
}

OJson turn(const char* from, const std::string& value) { return OJson{{"from", from}, {"value", value}}; }

std::string with_suffix(const QA& qa) {
  return qa.category == "describe" ? qa.question : qa.question + kAnswerSuffix;
}

}  // namespace

DemoDataSummary generate_demo_data(const DemoDataOptions& o) {
  IMP_CHECK_KIND(!o.out.empty(), ErrorKind::usage, "demo-data: --out is required");
  IMP_CHECK_KIND(o.train >= 1 && o.train <= 10'000'000, ErrorKind::usage, "demo-data: --train ", o.train,
                 " is out of range [1, 10000000]");
  IMP_CHECK_KIND(o.eval >= 0 && o.eval <= 10'000'000, ErrorKind::usage, "demo-data: --eval ", o.eval,
                 " is out of range [0, 10000000]");
  IMP_CHECK_KIND(o.image_size >= 16 && o.image_size <= 4096, ErrorKind::usage, "demo-data: --image-size ",
                 o.image_size, " is out of range [16, 4096]");
  namespace fs = std::filesystem;
  const std::string images = join_path(o.out, "images"), eval_dir = join_path(o.out, "eval");
  std::error_code ec;
  fs::create_directories(images, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, images, ": cannot create directory: ", ec.message());
  fs::create_directories(eval_dir, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, eval_dir, ": cannot create directory: ", ec.message());

  DemoDataSummary sum;
  OJson pretrain = OJson::array(), finetune = OJson::array();
  std::set<std::string> train_scenes;
  for (int64_t i = 0; i < o.train; ++i) {
    Rng rng(mix_seed(o.seed, kTrainStream, static_cast<uint64_t>(i)));
    const Conversation c = make_train_conversation(rng);
    OJson rec{{"id", numbered("train-", i)}};
    OJson turns = OJson::array();
    for (size_t t = 0; t < c.turns.size(); ++t) {
      const std::string q = with_suffix(c.turns[t]);
      turns.push_back(turn("human", (t == 0 && c.scene) ? "<image>\n" + q : q));
      turns.push_back(turn("gpt", c.turns[t].answer));
    }
    if (c.scene) {
      const std::string file = numbered("train_", i, ".png");
      write_scene_png(*c.scene, o.image_size, join_path(images, file));
      train_scenes.insert(c.scene->key());
      rec["image"] = file;
      pretrain.push_back(OJson{{"id", numbered("train-", i)},
                               {"image", file},
                               {"conversations", OJson::array({turn("human", "<image>\n"), turn("gpt", c.scene->caption())})}});
      ++sum.train_images;
    }
    rec["conversations"] = std::move(turns);
    finetune.push_back(std::move(rec));
    ++sum.finetune_kinds[c.kind];
  }
  sum.pretrain_samples = static_cast<int64_t>(pretrain.size());
  sum.finetune_samples = static_cast<int64_t>(finetune.size());
  atomic_write(join_path(o.out, "pretrain.json"), pretrain.dump(1) + "\n");
  atomic_write(join_path(o.out, "finetune.json"), finetune.dump(1) + "\n");

  const auto& cats = eval_categories();
  std::vector<OJson> questions, answers;
  for (int64_t i = 0; i < o.eval; ++i) {
    const std::string& category = cats[static_cast<size_t>(i) % cats.size()].name;
    Rng rng(mix_seed(o.seed, kEvalStream, static_cast<uint64_t>(i)));
    auto [scene, qa] = make_eval_item(rng, category);
    while (train_scenes.count(scene.key())) {  // held out: never an image the model trained on
      std::tie(scene, qa) = make_eval_item(rng, category);
      ++sum.eval_redrawn;
    }
    const std::string file = numbered("eval_", i, ".png");
    write_scene_png(scene, o.image_size, join_path(images, file));
    questions.push_back(OJson{{"question_id", i}, {"image", file}, {"text", with_suffix(qa)}, {"category", category}});
    answers.push_back(OJson{{"question_id", i}, {"answer", qa.answer}, {"category", category}});
    ++sum.eval_categories[category];
  }
  sum.eval_questions = o.eval;
  atomic_write(join_path(eval_dir, "questions.jsonl"), jsonl(questions));
  atomic_write(join_path(eval_dir, "answers_gt.jsonl"), jsonl(answers));

  OJson meta = OJson::array();
  for (const auto& c : cats)
    meta.push_back(OJson{{"category", c.name},
                         {"description", c.description},
                         {"answers", c.answers},
                         {"chance", c.chance()},
                         {"questions", sum.eval_categories.count(c.name) ? sum.eval_categories.at(c.name) : 0}});
  atomic_write(join_path(eval_dir, "categories.json"), meta.dump(2) + "\n");

  OJson info{{"generator", "imp demo-data"},
             {"seed", o.seed},
             {"train", o.train},
             {"eval", o.eval},
             {"image_size", o.image_size},
             {"train_images", sum.train_images},
             {"pretrain_samples", sum.pretrain_samples},
             {"finetune_samples", sum.finetune_samples},
             {"finetune_kinds", sum.finetune_kinds},
             {"eval_questions", sum.eval_questions},
             {"eval_redrawn", sum.eval_redrawn}};
  atomic_write(join_path(o.out, "dataset_info.json"), info.dump(2) + "\n");
  return sum;
}

}  // namespace imp::demo
