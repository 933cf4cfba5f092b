// coordinator.toml: what the coordinator listens on and which certificates
// it presents.
//
//   [server]
//   listen = "0.0.0.0:7443"     # host:port; port 0 picks a free port
//   [tls]
//   ca_file = "/etc/tessera/ca.pem"
//   cert_file = "/etc/tessera/coordinator.pem"
//   key_file = "/etc/tessera/coordinator.key"   # mode 0600
//   crl_file = "/var/lib/tessera/crl.pem"      # optional; reloaded when it changes
//   [limits]
//   requests_per_second = 50   # per caller, on average
//   burst = 200                # per caller, at once
//   [storage]
//   dir = "/var/lib/tessera-coordinator"   # state: objects, database (mode 0700)
//   max_object_mib = 1024                  # largest model or parameter file
//   keep_checkpoints = 0                   # per job: 0 keeps every round's model
//   [sites]
//   liveness_seconds = 60   # a site not heard from for this long is disconnected
//   [log]
//   level = "info"             # trace, debug, info, warn, error, critical, off
//   format = "text"            # text (key=value) or json; see common/logging.h
//
// Thread-safety: plain value type.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "transport/tls.h"

namespace tessera::coordinator {

struct CoordinatorConfig {
  std::string listen_address;
  transport::TlsFiles tls;
  std::string crl_file;
  std::string state_dir;
  uint64_t max_object_bytes = uint64_t{1} << 30;  // empty: revocation lists only arrive from `tessera pki revoke`
  int64_t keep_checkpoints = 0;
  double requests_per_second = 50;
  double burst = 200;
  absl::Duration liveness_window = absl::Seconds(60);
  LoggingOptions log;  // [log]; re-read on SIGHUP
};

// Loads and validates `path`; INVALID_ARGUMENT listing every problem with its
// file and line.
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path);

}  // namespace tessera::coordinator
