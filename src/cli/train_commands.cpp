// Placeholder registration: the owning area replaces this file with its subcommands.
#include "imp/cli/registry.h"

namespace imp::cli {

void add_train_commands(CLI::App& /*root*/, Commands& /*out*/) {}

}  // namespace imp::cli
