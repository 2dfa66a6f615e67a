// Placeholder registration: the owning area replaces this file with its subcommands.
#include "imp/cli/registry.h"

namespace imp::cli {

void add_eval_score_command(CLI::App& /*eval*/, Commands& /*out*/) {}

}  // namespace imp::cli
