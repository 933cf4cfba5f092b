// agent.toml: how tessera-agent reaches its coordinator and which
// certificate it presents. The agent only dials out; it never listens.
//
//   [coordinator]
//   address = "tessera.example.nhs.uk:7443"
//   heartbeat_seconds = 10          # optional, 1..3600
//   retry_max_seconds = 120         # optional, 1..3600: longest wait between reconnects
//   [tls]
//   ca_file = "/etc/tessera/ca.pem"
//   cert_file = "/etc/tessera/site.pem"
//   key_file = "/var/lib/tessera/site.key"   # mode 0600, never leaves the trust
//   [log]
//   level = "info"                  # trace, debug, info, warn, error, critical, off
//   format = "text"                 # text (key=value) or json; see common/logging.h
//   [state]
//   dir = "/var/lib/tessera"        # the agent's own files: privacy ledger (mode 0700)
//   [policy]                        # the trust's rules; see agent/round/local_policy.h
//   max_epsilon = 3.0
//   [datasets.NAME]                 # one table per dataset; see agent/data/dataset.h
//   kind = "csv"
//   path = "/var/lib/tessera/data/cohort.csv"
//
// Thread-safety: plain value type.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/data/dataset.h"
#include "agent/round/local_policy.h"
#include "common/logging.h"
#include "transport/tls.h"

namespace tessera::agent {

struct AgentConfig {
  std::string coordinator_address;
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration retry_max = absl::Seconds(120);
  transport::TlsFiles tls;
  LoggingOptions log;  // [log]; re-read on SIGHUP
  std::string state_dir = "/var/lib/tessera";
  LocalPolicy policy;
  std::vector<data::DatasetConfig> datasets;
};

// The privacy ledger's path under the state directory.
inline std::string LedgerPath(const AgentConfig& config) {
  return config.state_dir + "/ledger.db";
}

// Loads and validates `path`; INVALID_ARGUMENT listing every problem with its
// file and line.
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace tessera::agent
