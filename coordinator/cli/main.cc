// tessera: the command-line tool for ML leads, governance boards and
// operators. It talks to the coordinator's Admin service over mutual TLS.
#include <iostream>

#include "common/cli.h"
#include "coordinator/cli/commands.h"
#ifdef TESSERA_CLI_WITH_TORCH
#include "coordinator/cli/simulate_commands.h"
#endif
#include "transport/tls.h"

int main(int argc, char** argv) {
  using namespace tessera;
  if (absl::Status status = transport::RestrictProcessToTls13(); !status.ok()) {
    std::cerr << "tessera: error: " << status.message() << "\n";
    return kExitFailure;
  }
  CLI::App app("tessera: run and watch federated training across NHS trusts, and review the "
               "privacy spent.",
               "tessera");
  ConfigureApp(app);
  CommandResult result;
  cli::ConnectionOptions connection;
  cli::AddStatusCommand(app, result, connection);
  cli::AddSitesCommands(app, result, connection);
  cli::AddPkiCommands(app, result, connection);
  cli::AddPrivacyCommands(app, result);
  cli::AddJobCommands(app, result, connection);
  cli::AddAuditCommands(app, result, connection);
  cli::AddBudgetCommands(app, result, connection);
#ifdef TESSERA_CLI_WITH_TORCH
  cli::AddModelCommands(app, result, connection);
  cli::AddSimulateCommands(app, result);
#endif
  return RunApp(app, result, argc, argv);
}
