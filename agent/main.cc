// tessera-agent: runs inside an NHS trust, trains on the trust's own
// records and sends only protected model updates to the coordinator. It
// only dials out; it never listens on the network.
#include <signal.h>
#include <unistd.h>

#include <initializer_list>
#include <iostream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/agent_config.h"
#include "agent/check.h"
#include "agent/coordinator_link.h"
#include "agent/task_runner.h"
#include "agent/enrollment.h"
#include "agent/inventory.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "common/cli.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/status.h"
#include "nlohmann/json.hpp"
#include "transport/tls.h"

namespace tessera::agent {
namespace {

absl::Status Run(const std::string& config_path) {
  TESSERA_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(config_path));
  TESSERA_RETURN_IF_ERROR(InitLogging(config.log));
  auto log = Logger("agent");
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo certificate,
                           CheckInstalledCertificate(config.tls, absl::Now()));
  TESSERA_ASSIGN_OR_RETURN(auto channel, MakeCoordinatorChannel(config));
  TESSERA_ASSIGN_OR_RETURN(auto link, CoordinatorLink::Create(config, channel));
  link->WarnBeforeExpiry(certificate.not_after);
  TESSERA_ASSIGN_OR_RETURN(std::vector<DatasetInventory> inventory,
                           TakeInventory(config.datasets));
  for (const DatasetInventory& dataset : inventory) {
    log->info("dataset ready dataset={} records_about={}", dataset.name,
              dataset.record_count_bucket);
  }
  link->SetInventory(std::move(inventory));
  log->info("starting version={} site={} coordinator={} certificate_expires={}", kVersion,
            certificate.common_name, config.coordinator_address,
            absl::FormatTime("%Y-%m-%d", certificate.not_after, absl::UTCTimeZone()));

  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(config.state_dir));
  TESSERA_ASSIGN_OR_RETURN(auto ledger, PrivacyLedgerStore::Open(LedgerPath(config)));
  TESSERA_ASSIGN_OR_RETURN(auto tasks, TaskRunner::Create(config, *ledger, channel));

  absl::Notification stop;
  absl::Status link_status;
  absl::Status task_status;
  // Either loop ending with an error wakes the main thread, which waits
  // for a signal.
  std::thread heartbeats([&] {
    link_status = link->Run(stop);
    if (!link_status.ok()) ::kill(::getpid(), SIGTERM);
  });
  std::thread work([&] {
    task_status = tasks->Run(stop);
    if (!task_status.ok()) ::kill(::getpid(), SIGTERM);
  });
  int signal_number = WaitForStopSignal([&config_path] {
    // SIGHUP: the [log] settings take effect now; the rest at the next start.
    absl::StatusOr<AgentConfig> reread = LoadAgentConfig(config_path);
    ReloadLogging(reread.ok() ? absl::StatusOr<LoggingOptions>(reread->log) : reread.status(),
                  config_path)
        .IgnoreError();  // logged
  });
  if (link_status.ok() && task_status.ok()) log->info("stopping signal={}", signal_number);
  stop.Notify();
  heartbeats.join();
  work.join();
  return link_status.ok() ? task_status : link_status;
}

// Where enrol and install-cert read and write: agent.toml's [tls] paths,
// each overridden by its flag (so trust IT can enrol before writing the
// config, or keep the key elsewhere).
struct PathOptions {
  std::string config;  // optional
  transport::TlsFiles tls;
};

absl::StatusOr<transport::TlsFiles> ResolvePaths(const PathOptions& options,
                                                 std::initializer_list<const char*> needed) {
  transport::TlsFiles tls;
  if (!options.config.empty()) {
    TESSERA_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(options.config));
    tls = config.tls;
  }
  if (!options.tls.ca_file.empty()) tls.ca_file = options.tls.ca_file;
  if (!options.tls.cert_file.empty()) tls.cert_file = options.tls.cert_file;
  if (!options.tls.key_file.empty()) tls.key_file = options.tls.key_file;
  for (const char* flag : needed) {
    const std::string& value = std::string(flag) == "--key"  ? tls.key_file
                               : std::string(flag) == "--ca" ? tls.ca_file
                                                              : tls.cert_file;
    if (value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("give --config agent.toml or ", flag, " PATH"));
    }
  }
  return tls;
}

absl::Status RunEnroll(const PathOptions& paths, const std::string& site_id,
                       const std::string& csr_path, const std::string& key_type_name) {
  TESSERA_ASSIGN_OR_RETURN(transport::TlsFiles tls, ResolvePaths(paths, {"--key"}));
  TESSERA_ASSIGN_OR_RETURN(transport::KeyType key_type, transport::ParseKeyType(key_type_name));
  TESSERA_RETURN_IF_ERROR(Enroll(tls.key_file, site_id, csr_path, key_type));
  std::cout << "created the site key " << tls.key_file
            << " (mode 0600; it never leaves this server)\n"
            << "wrote the certificate signing request " << csr_path << "\n"
            << "send the request (not the key) to the federation operator, who runs\n"
            << "  tessera pki sign --csr " << csr_path << " --site " << site_id
            << " --out site.pem\n"
            << "then install the certificate with\n"
            << "  tessera-agent install-cert --config agent.toml --cert site.pem\n";
  return absl::OkStatus();
}

absl::Status RunInstallCert(const PathOptions& paths, const std::string& cert_path) {
  TESSERA_ASSIGN_OR_RETURN(transport::TlsFiles tls,
                           ResolvePaths(paths, {"--key", "--ca", "--cert-out"}));
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo info,
                           InstallCertificate(tls, cert_path, absl::Now()));
  std::cout << "installed the certificate of site `" << info.common_name << "` (serial "
            << info.serial_hex << ", expires "
            << absl::FormatTime("%Y-%m-%d", info.not_after, absl::UTCTimeZone()) << ") at "
            << tls.cert_file << "\n";
  return absl::OkStatus();
}

// `tessera-agent budget`: the trust's own view of its privacy spend, from
// its ledger, per configured dataset.
absl::Status RunBudget(const std::string& config_path, bool json) {
  TESSERA_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(config_path));
  TESSERA_ASSIGN_OR_RETURN(auto ledger, PrivacyLedgerStore::Open(LedgerPath(config)));
  TESSERA_ASSIGN_OR_RETURN(std::vector<Participation> participations, ledger->List());
  nlohmann::json datasets = nlohmann::json::array();
  if (!json) {
    std::cout << absl::StrFormat("%-20s %10s %10s %10s %8s   (epsilon at delta %g)\n",
                                 "DATASET", "SPENT", "LIMIT", "REMAINING", "ROUNDS",
                                 config.policy.delta);
  }
  for (const data::DatasetConfig& dataset : config.datasets) {
    TESSERA_ASSIGN_OR_RETURN(privacy::PrivacyLedger spent, ledger->Spent(dataset.name));
    TESSERA_ASSIGN_OR_RETURN(double epsilon, EpsilonOf(spent, config.policy.delta));
    int64_t rounds = 0;
    for (const Participation& p : participations) rounds += p.dataset == dataset.name ? 1 : 0;
    const double remaining = std::max(0.0, config.policy.max_epsilon - epsilon);
    if (json) {
      datasets.push_back({{"dataset", dataset.name},
                          {"epsilon_spent", epsilon},
                          {"epsilon_limit", config.policy.max_epsilon},
                          {"epsilon_remaining", remaining},
                          {"delta", config.policy.delta},
                          {"rounds", rounds}});
    } else {
      std::cout << absl::StrFormat("%-20s %10.4g %10.4g %10.4g %8d\n", dataset.name, epsilon,
                                   config.policy.max_epsilon, remaining, rounds);
    }
  }
  if (json) std::cout << nlohmann::json{{"datasets", datasets}}.dump(2) << "\n";
  return absl::OkStatus();
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

  bool budget_json = false;
  CLI::App* budget = app.add_subcommand(
      "budget", "Show the privacy this trust has spent per dataset, from its own ledger.");
  budget->add_option("--config", config_path, "Path to agent.toml")
      ->envname("TESSERA_AGENT_CONFIG")
      ->capture_default_str();
  budget->add_flag("--json", budget_json, "Print JSON");
  budget->callback(result.Bind([&] { return agent::RunBudget(config_path, budget_json); }));

  agent::AgentCheckOptions check_options;
  check_options.config_path = "/etc/tessera/agent.toml";
  bool check_json = false;
  CLI::App* check = app.add_subcommand(
      "check", "Preflight: configuration, key, certificate, state directory, datasets, proxy, "
               "coordinator and clock, each OK / WARN / FAIL with its fix. Exits 0 when nothing "
               "fails, 1 otherwise. Run it as root.");
  check->add_option("--config", check_options.config_path, "Path to agent.toml")
      ->envname("TESSERA_AGENT_CONFIG")
      ->capture_default_str();
  check->add_option("--job", check_options.job_files,
                    "A job file (job.toml): also check its dataset against its schema "
                    "(repeatable)");
  check->add_flag("--json", check_json, "Print one JSON object with every check");
  check->callback(result.Bind([&] { return agent::RunCheckCommand(check_options, check_json); }));

  agent::PathOptions paths;
  std::string site_id;
  std::string csr_path;
  std::string key_type = "ecdsa-p256";
  CLI::App* enroll = app.add_subcommand(
      "enroll", "Create this site's private key and a certificate signing request for the "
                "federation operator. The key never leaves this server.");
  enroll->add_option("--config", paths.config, "agent.toml, for tls.key_file")
      ->envname("TESSERA_AGENT_CONFIG");
  enroll->add_option("--key", paths.tls.key_file, "Where to create the key (overrides --config)");
  enroll->add_option("--site", site_id, "This trust's site id, as agreed with the operator")
      ->required();
  enroll->add_option("--csr", csr_path, "Where to write the request")->required();
  enroll->add_option("--key-type", key_type, "ecdsa-p256 or ed25519")->capture_default_str();
  enroll->callback(
      result.Bind([&] { return agent::RunEnroll(paths, site_id, csr_path, key_type); }));

  std::string cert_path;
  CLI::App* install = app.add_subcommand(
      "install-cert", "Check the signed certificate from the operator and install it.");
  install->add_option("--config", paths.config, "agent.toml, for the [tls] paths")
      ->envname("TESSERA_AGENT_CONFIG");
  install->add_option("--cert", cert_path, "The signed certificate (PEM)")->required();
  install->add_option("--ca", paths.tls.ca_file, "Federation CA certificate (overrides --config)");
  install->add_option("--key", paths.tls.key_file, "This site's key (overrides --config)");
  install->add_option("--cert-out", paths.tls.cert_file,
                      "Where to install the certificate (overrides --config)");
  install->callback(result.Bind([&] { return agent::RunInstallCert(paths, cert_path); }));

  return RunApp(app, result, argc, argv);
}
