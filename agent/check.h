// `tessera-agent check`: the preflight checks trust IT runs after installing
// or changing the agent, each printed as OK / WARN / FAIL with its fix (see
// common/preflight.h for the report and the checks shared with the
// coordinator):
//
//   config         agent.toml parses and every key is known
//   identity       whose file access is tested (root switches to the service)
//   private key    mode 0600, owned by root or the service account
//   certificate    issued by the federation CA for this key, a site
//                  certificate, days to expiry (WARN under 30)
//   tls files      the CA certificate and the site certificate are
//                  readable by the service (the key reaches it from systemd)
//   state          the state directory is writable by the service; free
//                  space (WARN under 1 GiB)
//   dataset NAME   readable by the service, every record read: counts only
//   job J / NAME   with --job: the dataset checked against the job's schema
//                  (records used and skipped, and why) - never a value
//   proxy          when grpc_proxy / https_proxy / http_proxy applies: the
//                  proxy accepts a TCP connection
//   coordinator    one real heartbeat over mutual TLS (through the proxy, as
//                  the agent dials), with a deadline
//   clock          skew against the coordinator's clock (WARN above 60 s,
//                  FAIL above 5 minutes)
//
// The check sends one heartbeat, as the agent does every few seconds, with
// the same dataset report; the coordinator counts it as the site being
// heard from.
//
// Thread-safety: RunAgentChecks forks (common/preflight.h RunAsAccount)
// before it creates a gRPC channel; call it from a single-threaded process.
// The other functions are stateless.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/data/dataset.h"
#include "agent/inventory.h"
#include "common/preflight.h"
#include "coordinator/job/job_spec.h"
#include "transport/tls.h"

namespace tessera::agent {

struct AgentCheckOptions {
  std::string config_path;
  // Job files (job.toml) whose datasets are checked against their schemas.
  std::vector<std::string> job_files;
};

// The command: runs the checks and prints the report to stdout (as text, or
// one JSON object with `json`). OK when no check failed; otherwise
// FAILED_PRECONDITION saying how many did (exit code 1).
absl::Status RunCheckCommand(const AgentCheckOptions& options, bool json);

// Runs every check above, in that order, and returns the report. Never
// fails as a whole: each problem is a FAIL result. When the configuration
// does not load, that is the only result.
PreflightReport RunAgentChecks(const AgentCheckOptions& options, absl::Time now);

// The checks one by one (RunAgentChecks wires them together).

// "config": loads `path` with LoadAgentConfig; the config when it loads.
CheckResult CheckAgentConfig(const std::string& path, std::optional<AgentConfig>* config);

// "certificate": the installed certificate as `tessera-agent run` checks it
// at start (CheckInstalledCertificate), then its expiry (CheckExpiry with
// kExpiryWarning).
CheckResult CheckSiteCertificate(const transport::TlsFiles& tls, absl::Time now);

// "dataset NAME" for each dataset, and "job J / NAME" for each job (one
// FAIL for a job whose dataset is not configured). Reads every record; the
// results carry counts ("records", "columns", "defective_records"; per job
// "records_used", "records_skipped", "values_imputed"), never values.
std::vector<CheckResult> CheckDatasets(const std::vector<data::DatasetConfig>& datasets,
                                       const std::vector<coordinator::JobSpec>& jobs);

// What the agent reports with its heartbeats, from CheckDatasets' results
// (datasets whose check failed are left out).
std::vector<DatasetInventory> InventoryFromResults(const std::vector<CheckResult>& results);

// "clock": `skew` is the coordinator's clock minus this server's. OK up to
// kClockSkewWarning, WARN up to kClockSkewFailure, FAIL beyond, either way.
inline constexpr absl::Duration kClockSkewWarning = absl::Seconds(60);
inline constexpr absl::Duration kClockSkewFailure = absl::Minutes(5);
CheckResult EvaluateClockSkew(absl::Duration skew);

// The proxy gRPC uses to reach `target` (host:port), decided as gRPC does:
// the first of grpc_proxy, https_proxy, http_proxy that is set, unless the
// host is listed in the first of no_grpc_proxy, no_proxy that is set
// (comma-separated; as in gRPC 1.51, an entry matches every host name that
// ends with it, ignoring case). A URI without a port means port 443, as for
// gRPC. nullopt when the agent dials directly. The proxy URI's user part
// (which may hold a password) is never kept.
struct ProxySetting {
  std::string variable;   // the environment variable that named it
  std::string host_port;  // the proxy's host:port
};
using GetEnv = std::function<const char*(const char*)>;
std::optional<ProxySetting> ProxyFor(absl::string_view target, const GetEnv& getenv);

// "proxy" (only when `proxy` is set), "coordinator" and "clock": dials the
// coordinator as the agent does and sends one heartbeat reporting
// `inventory`.
std::vector<CheckResult> CheckCoordinator(const AgentConfig& config,
                                          const std::vector<DatasetInventory>& inventory,
                                          const std::optional<ProxySetting>& proxy);

}  // namespace tessera::agent
