// `tessera status`: the coordinator's version and uptime, and who you are to it.
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {
namespace {

absl::Status RunStatus(const ConnectionOptions& connection, bool json) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::CoordinatorStatusResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().Status(context.get(), {}, &response);
  if (!status.ok()) return client.CallError(status);
  absl::Time started = absl::FromUnixMillis(response.started_unix_ms());
  if (json) {
    nlohmann::json out = {{"version", response.version()},
                          {"started", absl::FormatTime(absl::RFC3339_sec, started, absl::UTCTimeZone())},
                          {"caller", response.caller()},
                          {"caller_role", response.caller_role()}};
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("coordinator %s, up %s\nyou are %s (role %s)\n", response.version(),
                               absl::FormatDuration(absl::Trunc(absl::Now() - started,
                                                                absl::Seconds(1))),
                               response.caller(), response.caller_role());
  return absl::OkStatus();
}

}  // namespace

void AddStatusCommand(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static bool json = false;
  CLI::App* command = app.add_subcommand("status", "Show the coordinator's version and uptime.");
  AddConnectionOptions(command, connection);
  command->add_flag("--json", json, "Print JSON");
  command->callback(result.Bind([&connection] { return RunStatus(connection, json); }));
}

}  // namespace tessera::cli
