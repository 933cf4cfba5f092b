// coordinator.toml: what the coordinator listens on and which certificates
// it presents.
//
//   [server]
//   listen = "0.0.0.0:7443"     # host:port; port 0 picks a free port
//   [tls]
//   ca_file = "/etc/tessera/ca.pem"
//   cert_file = "/etc/tessera/coordinator.pem"
//   key_file = "/etc/tessera/coordinator.key"   # mode 0600
//   [sites]
//   liveness_seconds = 60   # a site not heard from for this long is disconnected
//   [log]
//   level = "info"
//
// Thread-safety: plain value type.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transport/tls.h"

namespace tessera::coordinator {

struct CoordinatorConfig {
  std::string listen_address;
  transport::TlsFiles tls;
  absl::Duration liveness_window = absl::Seconds(60);
  std::string log_level = "info";
};

// Loads and validates `path`; INVALID_ARGUMENT listing every problem with its
// file and line.
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path);

}  // namespace tessera::coordinator
