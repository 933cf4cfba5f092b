// tessera-agent: runs inside an NHS trust, trains on the trust's own
// records and sends only protected model updates to the coordinator. It
// only dials out; it never listens on the network.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "agent/agent_config.h"
#include "agent/coordinator_link.h"
#include "common/cli.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/status.h"
#include "transport/tls.h"

namespace tessera::agent {
namespace {

absl::Status Run(const std::string& config_path) {
  TESSERA_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(config_path));
  TESSERA_RETURN_IF_ERROR(InitLogging({.level = config.log_level}));
  auto log = Logger("agent");
  TESSERA_ASSIGN_OR_RETURN(auto link, CoordinatorLink::Create(config));
  log->info("starting version={} coordinator={}", kVersion, config.coordinator_address);

  absl::Notification stop;
  absl::Status link_status;
  std::thread worker([&] {
    link_status = link->Run(stop);
    if (!link_status.ok()) {
      // Wake the main thread, which waits for a signal.
      ::kill(::getpid(), SIGTERM);
    }
  });
  int signal_number = WaitForTerminationSignal();
  if (link_status.ok()) log->info("stopping signal={}", signal_number);
  stop.Notify();
  worker.join();
  return link_status;
}

}  // namespace
}  // namespace tessera::agent

int main(int argc, char** argv) {
  using namespace tessera;
  BlockTerminationSignals();
  if (absl::Status status = transport::RestrictProcessToTls13(); !status.ok()) {
    std::cerr << "tessera-agent: error: " << status.message() << "\n";
    return kExitFailure;
  }
  CLI::App app("tessera-agent: takes part in Tessera federated training from inside an NHS "
               "trust. It only dials out to the coordinator; it never listens.",
               "tessera-agent");
  ConfigureApp(app);
  CommandResult result;

  std::string config_path = "/etc/tessera/agent.toml";
  CLI::App* run = app.add_subcommand("run", "Connect to the coordinator and take part in jobs "
                                            "until SIGTERM or SIGINT.");
  run->add_option("--config", config_path, "Path to agent.toml")
      ->envname("TESSERA_AGENT_CONFIG")
      ->capture_default_str();
  run->callback(result.Bind([&config_path] { return agent::Run(config_path); }));

  return RunApp(app, result, argc, argv);
}
