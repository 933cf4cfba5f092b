// The `tessera` tool's command groups, one file each. Every Add*Commands
// function registers its subcommands on `app` and binds their actions to
// `result`.
//
// Thread-safety: used from main only.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "common/cli.h"

namespace tessera::cli {

// How the tool reaches the coordinator: flags, or the TESSERA_* environment.
struct ConnectionOptions {
  std::string coordinator;  // host:port
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  int timeout_seconds = 10;
};

// Adds --coordinator, --ca, --cert, --key and --timeout to `command`.
void AddConnectionOptions(CLI::App* command, ConnectionOptions& options);

void AddStatusCommand(CLI::App& app, CommandResult& result, ConnectionOptions& connection);
void AddSitesCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection);
void AddPkiCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection);
void AddPrivacyCommands(CLI::App& app, CommandResult& result);
void AddJobCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection);
void AddAuditCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection);
void AddBudgetCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection);

// Only in a build with libtorch (TESSERA_CLI_WITH_TORCH; model_commands.cc):
// `job submit`, added to the `job` group, and `model export`.
void AddJobSubmitCommand(CLI::App* job, CommandResult& result, ConnectionOptions& connection);
void AddModelCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection);

}  // namespace tessera::cli
