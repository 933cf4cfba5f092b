#include "coordinator/store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/sha256.h"

namespace tessera::coordinator {
namespace {

// "TSCO": marks the file as a Tessera coordinator database.
constexpr int32_t kApplicationId = 0x5453434F;

const char kGenesisHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

std::vector<Migration> Migrations() {
  return {
      {1, R"sql(
        CREATE TABLE sites (
          site_id TEXT PRIMARY KEY,
          certificate_serial TEXT NOT NULL,
          certificate_expires_ms INTEGER NOT NULL,
          enrolled_at_ms INTEGER,
          enrolled_by TEXT,
          last_seen_ms INTEGER
        );
        CREATE TABLE audit_log (
          sequence INTEGER PRIMARY KEY,
          time_ms INTEGER NOT NULL,
          actor TEXT NOT NULL,
          actor_role TEXT NOT NULL,
          action TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL,
          previous_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
      )sql"},
  };
}

int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

std::optional<absl::Time> OptionalTime(const Statement& stmt, int column) {
  if (stmt.ColumnIsNull(column)) return std::nullopt;
  return absl::FromUnixMillis(stmt.ColumnInt(column));
}

AuditEntry ReadEntry(const Statement& stmt) {
  AuditEntry entry;
  entry.sequence = stmt.ColumnInt(0);
  entry.event.time = absl::FromUnixMillis(stmt.ColumnInt(1));
  entry.event.actor = stmt.ColumnText(2);
  entry.event.actor_role = stmt.ColumnText(3);
  entry.event.action = stmt.ColumnText(4);
  entry.event.subject = stmt.ColumnText(5);
  entry.event.details = stmt.ColumnText(6);
  entry.previous_hash = stmt.ColumnText(7);
  entry.hash = stmt.ColumnText(8);
  return entry;
}

constexpr char kAuditColumns[] =
    "sequence, time_ms, actor, actor_role, action, subject, details, previous_hash, hash";

}  // namespace

std::string AuditHash(const std::string& previous_hash, int64_t sequence,
                      const AuditEvent& event) {
  crypto::Sha256Hasher hasher;
  hasher.Update(crypto::AsBytes("tessera audit v1"));
  hasher.UpdateLengthPrefixed(crypto::AsBytes(previous_hash));
  hasher.UpdateU64(static_cast<uint64_t>(sequence));
  hasher.UpdateU64(static_cast<uint64_t>(Ms(event.time)));
  for (const std::string* field :
       {&event.actor, &event.actor_role, &event.action, &event.subject, &event.details}) {
    hasher.UpdateLengthPrefixed(crypto::AsBytes(*field));
  }
  const crypto::Sha256Digest digest = hasher.Finish();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  DatabaseOptions options;
  options.application_id = kApplicationId;
  options.description = "coordinator database";
  options.migrations = Migrations();
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

absl::Status Store::RecordEnrolment(const std::string& site_id, const std::string& serial,
                                    absl::Time expires, const std::string& operator_id,
                                    absl::Time now) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("INSERT INTO sites (site_id, certificate_serial, certificate_expires_ms, "
                   "enrolled_at_ms, enrolled_by) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (site_id) DO UPDATE SET certificate_serial = excluded.certificate_serial, "
                   "certificate_expires_ms = excluded.certificate_expires_ms, "
                   "enrolled_at_ms = excluded.enrolled_at_ms, enrolled_by = excluded.enrolled_by"));
  stmt.Bind(1, site_id).Bind(2, serial).Bind(3, Ms(expires)).Bind(4, Ms(now)).Bind(5, operator_id);
  return stmt.Run();
}

absl::Status Store::RecordSeen(const std::string& site_id, const std::string& serial,
                               absl::Time expires, absl::Time now) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("INSERT INTO sites (site_id, certificate_serial, certificate_expires_ms, "
                   "last_seen_ms) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (site_id) DO UPDATE SET certificate_serial = excluded.certificate_serial, "
                   "certificate_expires_ms = excluded.certificate_expires_ms, "
                   "last_seen_ms = excluded.last_seen_ms"));
  stmt.Bind(1, site_id).Bind(2, serial).Bind(3, Ms(expires)).Bind(4, Ms(now));
  return stmt.Run();
}

absl::StatusOr<std::vector<SiteRecord>> Store::ListSites() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT site_id, certificate_serial, certificate_expires_ms, enrolled_at_ms, "
                   "enrolled_by, last_seen_ms FROM sites ORDER BY site_id"));
  std::vector<SiteRecord> sites;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    SiteRecord site;
    site.site_id = stmt.ColumnText(0);
    site.certificate_serial = stmt.ColumnText(1);
    site.certificate_expires = absl::FromUnixMillis(stmt.ColumnInt(2));
    site.enrolled_at = OptionalTime(stmt, 3);
    site.enrolled_by = stmt.ColumnText(4);
    site.last_seen = OptionalTime(stmt, 5);
    sites.push_back(std::move(site));
  }
  return sites;
}

absl::StatusOr<AuditEntry> Store::AppendAudit(const AuditEvent& event) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(
      Statement last, db_->Prepare("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1"));
  AuditEntry entry;
  entry.event = event;
  entry.sequence = 1;
  entry.previous_hash = kGenesisHash;
  TESSERA_ASSIGN_OR_RETURN(bool has_last, last.Step());
  if (has_last) {
    entry.sequence = last.ColumnInt(0) + 1;
    entry.previous_hash = last.ColumnText(1);
  }
  last.Reset();
  entry.hash = AuditHash(entry.previous_hash, entry.sequence, event);
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare(absl::StrCat("INSERT INTO audit_log (", kAuditColumns,
                                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")));
  insert.Bind(1, entry.sequence)
      .Bind(2, Ms(event.time))
      .Bind(3, event.actor)
      .Bind(4, event.actor_role)
      .Bind(5, event.action)
      .Bind(6, event.subject)
      .Bind(7, event.details)
      .Bind(8, entry.previous_hash)
      .Bind(9, entry.hash);
  TESSERA_RETURN_IF_ERROR(insert.Run());
  TESSERA_RETURN_IF_ERROR(transaction.Commit());
  return entry;
}

absl::StatusOr<std::vector<AuditEntry>> Store::ReadAudit(int64_t after, int64_t limit) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                " FROM audit_log WHERE sequence > ? ORDER BY sequence LIMIT ?")));
  stmt.Bind(1, after).Bind(2, limit);
  std::vector<AuditEntry> entries;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    entries.push_back(ReadEntry(stmt));
  }
  return entries;
}

absl::StatusOr<AuditCheck> Store::VerifyAuditChain() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kAuditColumns, " FROM audit_log ORDER BY sequence")));
  AuditCheck check;
  std::string previous = kGenesisHash;
  int64_t expected_sequence = 1;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    AuditEntry entry = ReadEntry(stmt);
    ++check.entries;
    std::string problem;
    if (entry.sequence != expected_sequence) {
      problem = absl::StrCat("entry ", expected_sequence, " is missing (next is ", entry.sequence,
                             ")");
    } else if (entry.previous_hash != previous) {
      problem = "it does not follow the entry before it (deleted or re-ordered entries)";
    } else if (AuditHash(entry.previous_hash, entry.sequence, entry.event) != entry.hash) {
      problem = "its contents do not match its hash (the entry was altered)";
    }
    if (!problem.empty()) {
      check.first_bad = entry.sequence;
      check.problem = std::move(problem);
      return check;
    }
    previous = entry.hash;
    expected_sequence = entry.sequence + 1;
  }
  check.head_hash = previous;
  return check;
}

}  // namespace tessera::coordinator
