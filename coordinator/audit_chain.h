// The audit chain's rules, shared by the coordinator (which writes and signs
// the chain) and the `tessera audit verify` command (which checks it on the
// board's own machine, without taking the coordinator's word for it).
//
//   entry hash   SHA-256 over "tessera audit v1", the previous entry's hash
//                (64 zeros before the first entry), the sequence, the time
//                and each field of the event (AuditHash)
//   signed head  the coordinator's signature, with the key of its TLS
//                certificate, over "tessera audit head v1\0", the sequence
//                as 8 bytes big-endian and the entry's 32-byte hash
//                (AuditHeadMessage; tessera.v1.AuditHeadSignature)
//
// VerifyAuditLog walks a whole downloaded log and its signed heads and
// reports the first entry that was altered, deleted or re-ordered, or the
// first signed head that does not hold.
//
// Pure: no SQLite, no gRPC, no clock, no torch.
//
// Thread-safety: plain values and stateless functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tessera::coordinator {

// The previous hash of the first entry.
inline constexpr char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditEvent {
  absl::Time time;         // kept to the millisecond
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

// The audit chain's head (the hash of entry `sequence`) signed by the
// coordinator's key.
struct AuditHeadRecord {
  int64_t sequence = 0;
  std::string hash;  // hex
  absl::Time signed_at;
  std::string signature;
  std::string certificate_pem;
};

// The hash of an audit entry: SHA-256 over the previous hash and each field
// of the event, length-prefixed so no two events hash alike. Lower-case hex.
std::string AuditHash(const std::string& previous_hash, int64_t sequence, const AuditEvent& event);

// The bytes the coordinator signs for the head at `sequence` with `hash`:
// "tessera audit head v1\0", the sequence as 8 bytes big-endian, the 32
// bytes of the hash. INVALID_ARGUMENT when sequence < 1 or `hash` is not 64
// lower-case hex digits.
absl::StatusOr<std::string> AuditHeadMessage(int64_t sequence, absl::string_view hash);

enum class AuditProblemKind {
  kAltered,    // an entry's contents changed (or it was replaced and re-hashed)
  kDeleted,    // one or more entries are gone
  kReordered,  // an entry sits at another place than it was written at
  kBadHead,    // a signed head whose signature or certificate does not hold
};

// "altered", "deleted", "re-ordered", "bad signed head".
absl::string_view AuditProblemKindName(AuditProblemKind kind);

struct AuditProblem {
  int64_t sequence = 0;  // the first entry concerned (for kBadHead: the head's sequence)
  AuditProblemKind kind = AuditProblemKind::kAltered;
  std::string description;  // one sentence for people, naming the entry
};

// Checks one link: `entry` must be entry `expected_sequence` and follow an
// entry whose hash is `previous_hash`, and its hash must be the hash of its
// contents. Returns the problem (classified as far as one link allows:
// a gap is a deletion, a hash mismatch an alteration, a previous hash that
// does not match a deletion or re-ordering), or nullopt when it holds.
std::optional<AuditProblem> CheckAuditLink(absl::string_view previous_hash,
                                           int64_t expected_sequence, const AuditEntry& entry);

struct AuditLogReport {
  int64_t entries = 0;       // entries walked
  std::string head_hash;     // the last entry's hash (kAuditGenesisHash when empty)
  int64_t signed_heads = 0;  // signed heads that verified
  std::optional<AuditHeadRecord> latest_head;  // the verified head with the highest sequence
  std::string latest_head_signer;              // its certificate's commonName
  int64_t unsigned_entries = 0;                // entries after the latest signed head
  std::optional<AuditProblem> problem;         // the first problem; nullopt: the log verifies
};

// Verifies a whole log, as downloaded: `entries` in the order received
// (oldest first) and every signed head. The entries must be numbered
// 1, 2, ... without gaps, each hash must be the hash of its contents and
// the previous hash, and each must follow the one before it. Every signed
// head's signature must verify under the certificate it carries, that
// certificate must be a coordinator certificate (organizationalUnitName
// "coordinator") issued by the CA of `ca_cert_pem` and valid when the head
// was signed, and the signed hash must be the log's hash at that sequence.
// The first problem found is reported, entries before heads; where it can
// be told, it says whether entries were altered, deleted (also at the end:
// a signed head beyond the last entry) or re-ordered.
//
// INVALID_ARGUMENT when `ca_cert_pem` is not a CA certificate; a log that
// does not verify is an OK result with `problem` set.
absl::StatusOr<AuditLogReport> VerifyAuditLog(const std::vector<AuditEntry>& entries,
                                              const std::vector<AuditHeadRecord>& heads,
                                              absl::string_view ca_cert_pem);

}  // namespace tessera::coordinator
