// The coordinator's durable state in one SQLite database
// (<storage.dir>/coordinator.db, WAL mode, foreign keys on):
//
//   sites       every site enrolled or seen: certificate serial and expiry,
//               when it was enrolled, when it was last heard from
//   audit_log   security- and governance-relevant events; each entry carries
//               the SHA-256 of the previous one, so an altered, deleted or
//               re-ordered entry breaks the chain (VerifyAuditChain)
//
// Jobs, rounds, checkpoints and the privacy ledger are added by later
// schema versions; Open() migrates older files forward.
//
// Thread-safety: all methods are thread-safe (one mutex around the
// connection; SQLite work here is short).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sqlite.h"

namespace tessera::coordinator {

struct SiteRecord {
  std::string site_id;
  std::string certificate_serial;
  absl::Time certificate_expires;
  std::optional<absl::Time> enrolled_at;  // set when an operator registered it
  std::string enrolled_by;
  std::optional<absl::Time> last_seen;    // last time its heartbeat was recorded
};

struct AuditEvent {
  absl::Time time;
  std::string actor;       // id from the certificate, or "coordinator"
  std::string actor_role;  // role from the certificate, or "coordinator"
  std::string action;      // e.g. "site.enrolled", "certificate.revoked"
  std::string subject;     // what it is about: a site id, a job id, a serial
  std::string details;     // JSON object with the specifics (never patient data)
};

struct AuditEntry {
  int64_t sequence = 0;
  AuditEvent event;
  std::string previous_hash;  // hex; 64 zeros for the first entry
  std::string hash;           // hex SHA-256 of previous_hash and the event
};

// The result of walking the audit chain.
struct AuditCheck {
  int64_t entries = 0;
  std::string head_hash;               // hash of the last entry
  std::optional<int64_t> first_bad;    // sequence of the first entry that does not verify
  std::string problem;                 // what is wrong with it
};

class Store {
 public:
  // Opens or creates the database; see Database::Open for the errors.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);

  // Registers `site_id` as enrolled by `operator_id` with the given
  // certificate (re-enrolment replaces the certificate details).
  absl::Status RecordEnrolment(const std::string& site_id, const std::string& serial,
                               absl::Time expires, const std::string& operator_id,
                               absl::Time now);

  // Records that `site_id` was heard from with this certificate.
  absl::Status RecordSeen(const std::string& site_id, const std::string& serial,
                          absl::Time expires, absl::Time now);

  // Every known site, sorted by id.
  absl::StatusOr<std::vector<SiteRecord>> ListSites();

  // Appends to the audit chain and returns the new entry.
  absl::StatusOr<AuditEntry> AppendAudit(const AuditEvent& event);

  // Audit entries with sequence > `after`, oldest first, at most `limit`.
  absl::StatusOr<std::vector<AuditEntry>> ReadAudit(int64_t after, int64_t limit);

  // Walks the whole chain: every entry's hash must match its contents and
  // the previous entry's hash, and sequences must have no gaps.
  absl::StatusOr<AuditCheck> VerifyAuditChain();

  Database& database() { return *db_; }

 private:
  explicit Store(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  absl::Mutex mutex_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mutex_);
};

// The hash of an audit entry: SHA-256 over the previous hash and each field
// of the event, length-prefixed so no two events hash alike.
std::string AuditHash(const std::string& previous_hash, int64_t sequence,
                      const AuditEvent& event);

}  // namespace tessera::coordinator
