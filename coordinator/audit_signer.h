// Signs the audit chain's head with the coordinator's own key (the key of
// its TLS certificate) and records it in the store (Store::RecordAuditHead),
// so that the board can check with `tessera audit verify` that no entry up
// to a signed head was altered, deleted or re-ordered, even by someone who
// can edit the database file.
//
// The head is signed at start-up, then at most once per interval (60 s)
// while it moves, and once more on shutdown; never when nothing changed.
// Before it signs, the signer checks the entries it has not yet checked
// (at the first signing, the whole chain, and every signed head on record):
// a coordinator whose log was tampered with refuses to sign it rather than
// vouch for it, and says which entry is wrong.
//
// The signed message and what it protects: coordinator/audit_chain.h.
//
// Thread-safety: all methods are thread-safe. Start and Stop are meant for
// the thread that owns the server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/store.h"
#include "crypto/signature.h"

namespace tessera::coordinator {

class AuditSigner {
 public:
  // How often a moving head is signed at most.
  static constexpr absl::Duration kInterval = absl::Seconds(60);

  // `signer` signs with the key of `certificate_pem`, the coordinator's own
  // certificate (stored beside each signature for the verifier).
  AuditSigner(Store& store, const Clock& clock, std::unique_ptr<crypto::Signer> signer,
              std::string certificate_pem)
      : store_(store),
        clock_(clock),
        signer_(std::move(signer)),
        certificate_pem_(std::move(certificate_pem)) {}

  // Loads the coordinator's certificate and private key (its [tls] files).
  // INVALID_ARGUMENT when the certificate is not a coordinator certificate
  // (organizationalUnitName "coordinator") or the key is not its key;
  // errors of ReadFileToString naming the file otherwise.
  static absl::StatusOr<std::unique_ptr<AuditSigner>> FromFiles(Store& store, const Clock& clock,
                                                                const std::string& cert_file,
                                                                const std::string& key_file);

  AuditSigner(const AuditSigner&) = delete;
  AuditSigner& operator=(const AuditSigner&) = delete;
  ~AuditSigner() { Stop(); }

  // Signs the chain's current head and records it. Returns the head
  // signed, or nullopt when the log is empty or its head is signed
  // already. DATA_LOSS naming the entry when the chain (from where the
  // last call left off) does not verify, or a signed head on record no
  // longer matches it: nothing is signed then, nor at any later call.
  // Errors of the store and the key otherwise.
  absl::StatusOr<std::optional<AuditHeadRecord>> SignHead();

  // Signs now, then every `interval` on a thread of its own until Stop.
  // Failures are logged (once per distinct failure).
  void Start(absl::Duration interval = kInterval);

  // Stops the thread and signs a last time, so the head covers the events
  // of the shutdown. Does nothing when not started or already stopped.
  void Stop();

 private:
  // Checks the entries after verified_sequence_ up to and including
  // `head`, and the signed heads among them, advancing verified_*.
  absl::Status CheckNewEntries(const AuditEntry& head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void SignAndLog(std::string& last_error);

  Store& store_;
  const Clock& clock_;
  const std::unique_ptr<crypto::Signer> signer_;
  const std::string certificate_pem_;

  absl::Mutex mutex_;  // one signing at a time
  int64_t verified_sequence_ ABSL_GUARDED_BY(mutex_) = 0;
  std::string verified_hash_ ABSL_GUARDED_BY(mutex_) = kAuditGenesisHash;
  int64_t signed_sequence_ ABSL_GUARDED_BY(mutex_) = 0;  // the last head known to be signed
  absl::Status broken_ ABSL_GUARDED_BY(mutex_);          // set once the chain fails

  absl::Mutex thread_mutex_;
  std::unique_ptr<absl::Notification> stop_ ABSL_GUARDED_BY(thread_mutex_);
  std::thread thread_ ABSL_GUARDED_BY(thread_mutex_);
};

}  // namespace tessera::coordinator
