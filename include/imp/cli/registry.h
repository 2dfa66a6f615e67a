// Subcommands contributed by each area (training, launcher, evaluation, demo). main.cpp creates the
// root CLI::App, lets every area add its subcommands, and runs the one that was parsed. Each add_*
// function lives in src/cli/<area>_commands.cpp and owns its flags and options structs.
#pragma once

#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace imp::cli {

struct Command {
  CLI::App* app;             // the (sub)command; `run` is called when app->parsed()
  std::function<int()> run;  // returns the process exit code; throws imp::Error on failure
};
using Commands = std::vector<Command>;

void add_train_commands(CLI::App& root, Commands& out);       // pretrain, finetune-lora, finetune, merge
void add_launch_command(CLI::App& root, Commands& out);       // launch (local multi-rank starter)
void add_eval_commands(CLI::App& root, Commands& out);        // generate, eval (calls add_eval_score_command)
void add_eval_score_command(CLI::App& eval, Commands& out);   // eval score (scorers, submission writers)
void add_demo_commands(CLI::App& root, Commands& out);        // demo data generation / model creation
void add_serve_commands(CLI::App& root, Commands& out);       // serve (OpenAI-compatible HTTP), chat (terminal)
void add_quantize_command(CLI::App& root, Commands& out);     // quantize (weight-only int8/int4)
void add_export_commands(CLI::App& root, Commands& out);      // export gguf

}  // namespace imp::cli
