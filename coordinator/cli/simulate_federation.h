// A throwaway federation on 127.0.0.1 for `tessera simulate`: a private
// temporary folder with a fresh PKI, one real tessera-coordinator process
// and one real tessera-agent process per site, each agent offering its CSV
// file as the dataset "simulation".
//
// The PKI is made in this process with the operator's own code
// (CaDirectory, as `tessera pki` does): a CA valid for a day, a coordinator
// certificate for 127.0.0.1, an ml-lead and a governance person, and one
// key and certificate per site (a real trust makes its own key with
// `tessera-agent enroll`; here every key is throwaway). Each simulated
// trust's policy accepts what the job asks (max_epsilon 100, no minimum
// noise, non-private jobs only with `allow_non_private`): what each spent
// is read from its own ledger afterwards.
//
// Nothing outlives the federation: Stop() (or the destructor) stops the
// agents, then the coordinator (SIGTERM, then SIGKILL after a grace
// period), and removes the folder with every key in it. The processes die
// with this one even if it is killed (common/subprocess.h).
//
// Thread-safety: use from one thread (the one that started it).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/cli/commands.h"
#include "common/subprocess.h"

namespace tessera::cli {

// Where the three executables are. Each is taken from its environment
// variable (TESSERA_COORDINATOR_BIN, TESSERA_AGENT_BIN) when set, else
// next to the running `tessera` (an installed package: all three in one
// folder), else at its place in a build tree (coordinator/tessera-coordinator
// and agent/tessera-agent, from coordinator/cli/tessera), else on PATH.
struct FederationBinaries {
  std::string coordinator;
  std::string agent;
  std::string cli;  // this executable

  // NOT_FOUND naming the executable and the environment variable to set.
  static absl::StatusOr<FederationBinaries> Find();
};

struct SimulatedSite {
  std::string site;      // site id
  std::string csv_path;  // absolute
};

struct FederationSettings {
  std::vector<SimulatedSite> sites;
  bool allow_non_private = false;  // the trusts' policy for privacy mode "none"
  double policy_delta = 1e-5;      // the delta each trust accounts its epsilon at
};

// Returns true when the caller wants to stop (e.g. after a Ctrl-C); long
// waits check it every few tens of milliseconds and end with CANCELLED.
using CancelCheck = std::function<bool()>;

class SimulatedFederation {
 public:
  // Creates the folder and the PKI, starts the coordinator on a free port
  // and every agent, and waits until all sites are connected (at most
  // `timeout`). Errors: INTERNAL / DEADLINE_EXCEEDED naming the process
  // that did not start, with the end of its log; CANCELLED; those of the
  // PKI and file writes. Everything started is stopped and removed on error.
  static absl::StatusOr<std::unique_ptr<SimulatedFederation>> Start(
      const FederationBinaries& binaries, const FederationSettings& settings,
      absl::Duration timeout, const CancelCheck& cancelled);

  ~SimulatedFederation();  // Stop(), if not done yet
  SimulatedFederation(const SimulatedFederation&) = delete;
  SimulatedFederation& operator=(const SimulatedFederation&) = delete;

  // Kills the agent of `site` with SIGKILL (a crash, as in a real dropout)
  // and reaps it. NOT_FOUND when it is not running.
  absl::Status KillAgent(const std::string& site);
  // Starts the agent of `site` again (its ledger survives in its state
  // folder). FAILED_PRECONDITION when it is running.
  absl::Status StartAgent(const std::string& site);
  bool AgentRunning(const std::string& site) const;
  // SIGSTOP / SIGCONT the agent of `site` (simulate_dropouts.h holds rounds
  // in lockstep with them). NOT_FOUND when it is not running.
  absl::Status PauseAgent(const std::string& site);
  absl::Status ResumeAgent(const std::string& site);

  // Connection settings for `role` ("ml-lead" or "governance").
  ConnectionOptions Connection(const std::string& role) const;

  // Runs `tessera ARGS...` (this executable) as `role`, at most `timeout`,
  // ending early with CANCELLED when `cancelled` says so.
  absl::StatusOr<RunResult> Cli(const std::vector<std::string>& args, const std::string& role,
                                absl::Duration timeout, const CancelCheck& cancelled);
  // Starts `tessera ARGS...` as `role` without waiting for it.
  absl::StatusOr<Subprocess> StartCli(const std::vector<std::string>& args,
                                      const std::string& role);

  // `tessera-agent budget --json` for `site`: the epsilon its ledger shows
  // spent (at the policy's delta).
  absl::StatusOr<double> EpsilonSpent(const std::string& site);

  // Copies every log (coordinator and agents; no key, no data) into `dir`.
  absl::Status CopyLogs(const std::string& dir) const;
  // The last `lines` lines of the coordinator's log, for error messages.
  std::string CoordinatorLogTail(int lines) const;

  // Stops the agents, then the coordinator, and removes the folder. Returns
  // the first process that had to be killed or did not exit cleanly, as
  // INTERNAL; the folder is removed either way.
  absl::Status Stop();

  const std::string& dir() const { return dir_.path(); }
  std::string address() const;

 private:
  SimulatedFederation(FederationBinaries binaries, FederationSettings settings, TempDir dir)
      : binaries_(std::move(binaries)), settings_(std::move(settings)), dir_(std::move(dir)) {}

  absl::Status CreatePki();
  absl::Status StartCoordinator(const CancelCheck& cancelled);
  absl::Status WaitForConnectedSites(absl::Duration timeout, const CancelCheck& cancelled);
  std::string Pki(const std::string& file) const { return dir_.File("pki/" + file); }

  FederationBinaries binaries_;
  FederationSettings settings_;
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> coordinator_;
  std::map<std::string, Subprocess> agents_;
  std::map<std::string, int> agent_starts_;
  int cli_runs_ = 0;
  std::vector<std::string> logs_;  // every log file written, in order
  bool stopped_ = false;
};

}  // namespace tessera::cli
