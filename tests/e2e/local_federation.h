// A real federation on 127.0.0.1 for end-to-end tests: a throwaway PKI made
// with Tessera's own tools by scripts/local-pki.sh, one tessera-coordinator process on port 0 and one
// tessera-agent process per site, all stopped and removed on destruction.
//
// Thread-safety: use from the test's thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"

namespace tessera::testing {

// Paths of the binaries under test, baked in by CMake.
struct Binaries {
  static std::string Coordinator();
  static std::string Agent();
  static std::string Cli();
  static std::string LocalPki();  // scripts/local-pki.sh
  static std::string BuildDir();
};

class LocalFederation {
 public:
  // Creates the PKI for `sites` (scripts/local-pki.sh), starts the
  // coordinator on a free port and waits for it. Agents are started separately with StartAgent().
  // With `reuse_pki` (the default), the PKI is made once per list of sites
  // for the whole build (kept in BuildDir()/e2e-pki, made again when the PKI
  // tools change, and daily) and each federation gets its own copy of it
  // (its own CA directory, the same keys): seconds less per federation.
  // Without it, the federation gets fresh keys.
  static absl::StatusOr<std::unique_ptr<LocalFederation>> Start(const std::vector<std::string>& sites,
                                                                bool reuse_pki = true);

  // Starts the coordinator (again, on the same port, after StopCoordinator).
  absl::Status StartCoordinator();
  // Appended to coordinator.toml from the next StartCoordinator on (e.g. a
  // [limits] table).
  void SetCoordinatorExtraToml(std::string toml) { coordinator_extra_toml_ = std::move(toml); }
  // SIGTERMs the coordinator and waits for it.
  absl::StatusOr<RunResult> StopCoordinator(absl::Duration timeout = absl::Seconds(30));
  // SIGKILLs the coordinator (a crash: nothing is flushed or recorded) and
  // waits for it; StartCoordinator brings it back on the same port.
  absl::Status KillCoordinator();
  // Sends `signal_number` (e.g. SIGSTOP, SIGCONT) to the running coordinator.
  absl::Status SignalCoordinator(int signal_number);
  // What the running coordinator, or the agent of `site`, has logged so far.
  std::string CoordinatorOutput() const;
  std::string AgentOutput(const std::string& site) const;

  // What an agent offers and allows, when a test needs more than the
  // default small cohort and default policy.
  struct AgentSetup {
    std::string cohort_csv;   // the `cohort` dataset's file contents ("" = default rows)
    std::string extra_toml;   // appended to agent.toml (e.g. a [policy] table)
    // Where the agent dials ("" = this coordinator's address), e.g. a
    // test's TCP proxy or recording relay in front of the coordinator.
    std::string coordinator_address;
  };
  void SetAgentSetup(const std::string& site, AgentSetup setup) { setups_[site] = std::move(setup); }

  // Starts the agent for `site` (one of the sites given to Start), with
  // `env` added to its environment. Its state (ledger) lives in
  // dir()/state-SITE, which survives restarts of the agent.
  absl::Status StartAgent(const std::string& site,
                          const std::map<std::string, std::string>& env = {});
  // Sends SIGKILL to the agent of `site` and waits for it to die.
  absl::Status KillAgent(const std::string& site);
  // Sends `signal_number` (e.g. SIGSTOP, SIGCONT) to the running agent of `site`.
  absl::Status SignalAgent(const std::string& site, int signal_number);
  std::string AgentStateDir(const std::string& site) const { return dir_.File("state-" + site); }

  // Waits up to `timeout` for the agent of `site` to exit by itself and
  // returns its result; DEADLINE_EXCEEDED while it still runs.
  absl::StatusOr<RunResult> WaitForAgentExit(const std::string& site, absl::Duration timeout);

  // Runs `tessera ARGS...` as the demo person with `role`, connected to this
  // coordinator, and returns its exit code and output.
  absl::StatusOr<RunResult> Cli(const std::vector<std::string>& args,
                                const std::string& role = "operator",
                                absl::Duration timeout = absl::Seconds(30));

  // Polls `tessera sites list --json` until `count` sites are connected.
  absl::Status WaitForConnectedSites(size_t count, absl::Duration timeout);

  // Sends SIGTERM to every process and waits for them; returns each
  // process's result keyed by "coordinator" or "agent-SITE".
  absl::StatusOr<std::map<std::string, RunResult>> Stop(absl::Duration timeout);

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_.path(); }
  // A file of the federation's CA directory (see scripts/local-pki.sh).
  std::string Pki(const std::string& file) const { return dir_.File("pki/" + file); }
  // The coordinator's own copy of the revocation list (tls.crl_file).
  std::string CrlFile() const { return dir_.File("coordinator-crl.pem"); }

 private:
  LocalFederation() = default;
  std::map<std::string, AgentSetup> setups_;
  TempDir dir_;
  int port_ = 0;
  int coordinator_starts_ = 0;
  std::string coordinator_extra_toml_;
  std::map<std::string, Subprocess> processes_;
};

}  // namespace tessera::testing
