// The certificates the coordinator refuses: the latest revocation list
// signed by the federation CA. Checked on every call, so a revocation takes
// effect on connections that are already open, without a restart.
//
// A list reaches it three ways: at start-up and whenever the configured
// `tls.crl_file` changes (ReloadIfChanged, polled by the server and run on
// SIGHUP), or published by an operator (`tessera pki revoke --coordinator`,
// which calls Apply and persists the list to that file). Every list must
// verify against the CA, and a list older than the one in force is refused,
// so nobody can un-revoke a certificate by replaying an old list.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera::coordinator {

class Revocations {
 public:
  // `crl_file` may be empty (no file: lists only arrive by Apply and are
  // kept in memory).
  Revocations(std::string ca_cert_pem, std::string crl_file)
      : ca_cert_pem_(std::move(ca_cert_pem)), crl_file_(std::move(crl_file)) {}
  Revocations(const Revocations&) = delete;
  Revocations& operator=(const Revocations&) = delete;

  // Verifies `crl_pem` against the CA and puts it in force; with `persist`,
  // also writes it to the CRL file. Returns the number of revoked serials.
  // UNAUTHENTICATED when the CA did not sign it; FAILED_PRECONDITION when it
  // is older than the list in force; INVALID_ARGUMENT when it does not parse.
  absl::StatusOr<size_t> Apply(const std::string& crl_pem, bool persist);

  // Reloads the CRL file if its modification time or size changed since the
  // last load. OK when there is no file configured or nothing changed; a
  // missing file is OK until one has been loaded.
  absl::Status ReloadIfChanged();

  // When the certificate with `serial_hex` was revoked, or nullopt.
  std::optional<absl::Time> RevokedAt(const std::string& serial_hex) const;

  size_t size() const;

 private:
  const std::string ca_cert_pem_;
  const std::string crl_file_;
  mutable absl::Mutex mutex_;
  absl::Time issued_at_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  std::map<std::string, absl::Time> revoked_ ABSL_GUARDED_BY(mutex_);
  int64_t file_mtime_ns_ ABSL_GUARDED_BY(mutex_) = -1;
  int64_t file_size_ ABSL_GUARDED_BY(mutex_) = -1;
};

}  // namespace tessera::coordinator
