// `tessera-coordinator check`: the preflight checks the federation operator
// runs after installing or changing the coordinator, each printed as OK /
// WARN / FAIL with its fix (common/preflight.h has the report and the
// checks shared with the agent):
//
//   config             coordinator.toml parses and every key is known
//   identity           whose file access is tested (root switches to the
//                      service account, the owner of storage.dir)
//   private key        mode 0600, owned by root or the service account
//   certificate        issued by the federation CA for this key, a
//                      coordinator certificate, days to expiry (WARN under 30)
//   certificate names  the names and addresses in the certificate; the
//                      listen host (unless a wildcard) and every --name must
//                      be among them, or agents dialling it refuse the server
//   revocation list    tls.crl_file signed by the CA, not revoking the
//                      coordinator itself (WARN when none is configured or
//                      none published yet)
//   tls files          CA, certificate and revocation list readable by the
//                      service
//   state, free space  storage.dir writable by the service; free space
//                      (WARN under 1 GiB or the largest object allowed)
//   database           coordinator.db opens read-only at the current schema
//                      and passes PRAGMA integrity_check (never migrated here)
//   listen             server.listen can be bound by the service (a bind
//                      test); in use by a running tessera-coordinator is a
//                      WARN, by anything else a FAIL
//
// Thread-safety: RunCoordinatorChecks forks (common/preflight.h
// RunAsAccount); call it from a single-threaded process. The other functions
// are stateless.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/preflight.h"
#include "coordinator/coordinator_config.h"
#include "transport/pki.h"

namespace tessera::coordinator {

struct CoordinatorCheckOptions {
  std::string config_path;
  // Names or addresses agents dial (besides server.listen's host); each
  // must be in the certificate.
  std::vector<std::string> names;
};

// The command: runs the checks and prints the report to stdout (as text, or
// one JSON object with `json`). OK when no check failed; otherwise
// FAILED_PRECONDITION saying how many did (exit code 1).
absl::Status RunCheckCommand(const CoordinatorCheckOptions& options, bool json);

// Runs every check above, in that order. Never fails as a whole: each
// problem is a FAIL result. When the configuration does not load, that is
// the only result.
PreflightReport RunCoordinatorChecks(const CoordinatorCheckOptions& options, absl::Time now);

// The checks one by one (RunCoordinatorChecks wires them together).

// "config": loads `path` with LoadCoordinatorConfig; the config when it loads.
CheckResult CheckCoordinatorConfig(const std::string& path,
                                   std::optional<CoordinatorConfig>* config);

// "certificate" and, when the certificate verifies, "certificate names"
// (against the host of `listen_address` and `names`).
std::vector<CheckResult> CheckServerCertificate(const transport::TlsFiles& tls,
                                                const std::string& listen_address,
                                                const std::vector<std::string>& names,
                                                absl::Time now);

// "revocation list": `crl_file` (may be empty: not configured) against the
// CA in `ca_file`; FAIL when it revokes `own_cert_file`'s certificate.
CheckResult CheckRevocationList(const std::string& ca_file, const std::string& crl_file,
                                const std::string& own_cert_file);

// "database": <state_dir>/coordinator.db, as the account running this.
CheckResult CheckDatabase(const std::string& state_dir);

// "listen": binds `listen_address` (host:port) as the account running this
// and closes it again.
CheckResult CheckListenAddress(const std::string& listen_address);

}  // namespace tessera::coordinator
