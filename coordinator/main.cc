// tessera-coordinator: runs the federation. `serve` starts the mutual-TLS
// gRPC server for agents and the `tessera` tool and runs until SIGTERM;
// `check` is the preflight; `backup` and `restore` copy its state
// (coordinator/backup.h).
#include <malloc.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/cli.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/status.h"
#include "coordinator/backup.h"
#include "coordinator/check.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/server.h"
#include "transport/tls.h"

namespace tessera::coordinator {
namespace {

struct ServeOptions {
  std::string config_path;
  std::string port_file;
};

absl::Status Serve(const ServeOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(CoordinatorConfig config, LoadCoordinatorConfig(options.config_path));
  TESSERA_RETURN_IF_ERROR(InitLogging(config.log));
  auto log = Logger("coordinator");
  // Held until the process ends: one coordinator per state directory, and
  // never one beside a restore.
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(config.state_dir));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<StateDirectoryLock> lock,
                           StateDirectoryLock::Acquire(config.state_dir, "serve"));
  TESSERA_ASSIGN_OR_RETURN(auto server, CoordinatorServer::Start(config, RealClock::Get()));
  log->info("listening address={} port={} version={}", config.listen_address, server->port(),
            kVersion);
  if (!options.port_file.empty()) {
    TESSERA_RETURN_IF_ERROR(
        WriteFileAtomically(options.port_file, absl::StrCat(server->port(), "\n"), 0644));
  }
  const int signal_number = WaitForStopSignal([&] {
    // SIGHUP: the revocation list and the [log] settings take effect now;
    // the rest of coordinator.toml at the next start.
    absl::StatusOr<CoordinatorConfig> reread = LoadCoordinatorConfig(options.config_path);
    ReloadLogging(reread.ok() ? absl::StatusOr<LoggingOptions>(reread->log) : reread.status(),
                  options.config_path)
        .IgnoreError();  // logged
    absl::Status reloaded = server->ReloadRevocations();
    if (reloaded.ok()) {
      log->info("revocation list reloaded on SIGHUP crl_file={}", config.crl_file);
    } else {
      log->error("revocation list not reloaded on SIGHUP error=\"{}\"",
                 std::string(reloaded.message()));
    }
  });
  log->info("stopping signal={}", signal_number);
  server->Shutdown(absl::Seconds(5));
  log->info("stopped");
  return absl::OkStatus();
}

struct BackupCommandOptions {
  std::string config_path;
  std::string file;
  bool force = false;
  bool json = false;
};

absl::Status RunBackup(const BackupCommandOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(CoordinatorConfig config, LoadCoordinatorConfig(options.config_path));
  TESSERA_ASSIGN_OR_RETURN(BackupResult result,
                           BackupCoordinator(config, options.file, options.force));
  std::cout << FormatBackupResult(result, options.json);
  return absl::OkStatus();
}

absl::Status RunRestore(const BackupCommandOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(CoordinatorConfig config, LoadCoordinatorConfig(options.config_path));
  TESSERA_ASSIGN_OR_RETURN(RestoreResult result,
                           RestoreCoordinator(config, options.file, options.force, absl::Now()));
  std::cout << FormatRestoreResult(result, options.json);
  return absl::OkStatus();
}

}  // namespace
}  // namespace tessera::coordinator

int main(int argc, char** argv) {
  using namespace tessera;
  BlockTerminationSignals();
  // Masked inputs and model chunks are megabytes each and short-lived. By
  // default glibc raises its mmap threshold after the first such buffer is
  // freed and from then on serves them from per-thread heaps that it keeps,
  // so the coordinator's memory grew with the number of sites sending at
  // once; a fixed threshold maps every buffer of 1 MiB or more and gives it
  // back when freed.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  if (absl::Status status = transport::RestrictProcessToTls13(); !status.ok()) {
    std::cerr << "tessera-coordinator: error: " << status.message() << "\n";
    return kExitFailure;
  }
  CLI::App app("tessera-coordinator: runs a Tessera federation (secure aggregation of model "
               "updates from NHS trusts).",
               "tessera-coordinator");
  ConfigureApp(app);
  CommandResult result;

  coordinator::ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the coordinator until SIGTERM or SIGINT.");
  serve_cmd->add_option("--config", serve.config_path, "Path to coordinator.toml")
      ->required()
      ->envname("TESSERA_COORDINATOR_CONFIG");
  serve_cmd->add_option("--port-file", serve.port_file,
                        "Write the port actually bound to this file (for listen port 0)");
  serve_cmd->callback(result.Bind([&serve] { return coordinator::Serve(serve); }));

  coordinator::CoordinatorCheckOptions check_options;
  bool check_json = false;
  CLI::App* check = app.add_subcommand(
      "check", "Preflight: configuration, key, certificate and its names, revocation list, "
               "storage, database integrity and listen port, each OK / WARN / FAIL with its "
               "fix. Exits 0 when nothing fails, 1 otherwise. Run it as root.");
  check->add_option("--config", check_options.config_path, "Path to coordinator.toml")
      ->required()
      ->envname("TESSERA_COORDINATOR_CONFIG");
  check->add_option("--name", check_options.names,
                    "A name or address agents dial; it must be in the certificate (repeatable)");
  check->add_flag("--json", check_json, "Print one JSON object with every check");
  check->callback(
      result.Bind([&] { return coordinator::RunCheckCommand(check_options, check_json); }));

  coordinator::BackupCommandOptions backup_options;
  CLI::App* backup = app.add_subcommand(
      "backup", "Copy the coordinator's state to FILE (the database, consistent even while the "
                "coordinator runs) and FILE.state/ (the jobs' model files and the revocation "
                "list). FILE is mode 0600 and appears only complete. Run it as root or as the "
                "service account.");
  backup->add_option("--config", backup_options.config_path, "Path to coordinator.toml")
      ->required()
      ->envname("TESSERA_COORDINATOR_CONFIG");
  backup->add_option("--out", backup_options.file, "The backup file to create")->required();
  backup->add_flag("--force", backup_options.force, "Replace FILE if it exists");
  backup->add_flag("--json", backup_options.json, "Print what was copied as JSON");
  backup->callback(result.Bind([&] { return coordinator::RunBackup(backup_options); }));

  coordinator::BackupCommandOptions restore_options;
  CLI::App* restore = app.add_subcommand(
      "restore", "Put a backup made by `backup` in place. The coordinator must be stopped. The "
                 "database it replaces is kept as coordinator.db.before-restore-<UTC time>. Run "
                 "it as root or as the service account.");
  restore->add_option("--config", restore_options.config_path, "Path to coordinator.toml")
      ->required()
      ->envname("TESSERA_COORDINATOR_CONFIG");
  restore->add_option("--from", restore_options.file, "The backup file (FILE.state/ beside it)")
      ->required();
  restore->add_flag("--force", restore_options.force,
                    "Replace an existing database (it is kept), and restore even if jobs' model "
                    "files are missing");
  restore->add_flag("--json", restore_options.json, "Print what was restored as JSON");
  restore->callback(result.Bind([&] { return coordinator::RunRestore(restore_options); }));

  return RunApp(app, result, argc, argv);
}
