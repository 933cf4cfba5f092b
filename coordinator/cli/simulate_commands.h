// `tessera simulate` and `tessera synthetic-cohorts` (simulate_commands.cc):
// a real federation on this machine, one site per CSV file, and the demo's
// synthetic trusts. Only in a build with libtorch (TESSERA_CLI_WITH_TORCH):
// the simulation trains and evaluates models itself.
//
// Thread-safety: used from main only. While a simulation runs it handles
// SIGINT, SIGTERM and SIGHUP itself (to stop its processes and remove its
// files) and restores the previous handlers afterwards.
#pragma once

#include "CLI/CLI.hpp"
#include "common/cli.h"

namespace tessera::cli {

void AddSimulateCommands(CLI::App& app, CommandResult& result);

}  // namespace tessera::cli
