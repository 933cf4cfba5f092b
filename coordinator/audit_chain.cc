#include "coordinator/audit_chain.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/certificate.h"
#include "crypto/sha256.h"

namespace tessera::coordinator {
namespace {

constexpr char kHeadContext[] = "tessera audit head v1";  // signed with its NUL

// How far beyond the log's length `VerifyAuditLog` looks for the sequence
// an entry was written at (entries before it deleted and the rest
// renumbered). Beyond this, the entry is reported as altered.
constexpr int64_t kMaxRenumberSearch = 4096;

std::string TimeText(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S UTC", time, absl::UTCTimeZone());
}

AuditProblem Problem(int64_t sequence, AuditProblemKind kind, std::string description) {
  return AuditProblem{sequence, kind, std::move(description)};
}

AuditProblem AlteredProblem(int64_t sequence) {
  return Problem(
      sequence, AuditProblemKind::kAltered,
      absl::StrCat("entry ", sequence, " was altered: its contents do not match its hash"));
}

// A certificate that signed heads, checked once however many heads it signed.
struct HeadCertificate {
  std::unique_ptr<crypto::Certificate> certificate;
  std::unique_ptr<crypto::SignatureVerifier> verifier;
  std::string common_name;
  absl::Status problem;  // why it cannot vouch for a head; OK when it can
};

HeadCertificate CheckHeadCertificate(const std::string& pem, const crypto::Certificate& ca,
                                     absl::Time signed_at) {
  HeadCertificate checked;
  auto certificate = crypto::Certificate::FromPem(pem);
  if (!certificate.ok()) {
    checked.problem = Annotate(certificate.status(), "its certificate does not parse");
    return checked;
  }
  checked.certificate = std::move(*certificate);
  checked.common_name = checked.certificate->SubjectCommonName().value_or("?");
  auto role = checked.certificate->SubjectOrganizationalUnit();
  if (!role.ok() || *role != "coordinator") {
    checked.problem = absl::UnauthenticatedError(
        absl::StrCat("it is signed by ", checked.certificate->DescribeSubject(),
                     ", which is not a coordinator certificate"));
    return checked;
  }
  absl::Status issued = checked.certificate->VerifyIssuedBy(ca, signed_at);
  if (!issued.ok()) {
    checked.problem = Annotate(
        issued, "its certificate is not one of this federation's CA, or was not valid then");
    return checked;
  }
  auto verifier = checked.certificate->PublicKeyVerifier();
  if (!verifier.ok()) {
    checked.problem = Annotate(verifier.status(), "its certificate's key cannot verify");
    return checked;
  }
  checked.verifier = std::move(*verifier);
  return checked;
}

// The chain problem at entries[i] (entry `expected` after `previous`),
// classified with the whole log in view: where an entry that does not hash
// at its place was written, and whether what came before it is missing.
std::optional<AuditProblem> ClassifyLink(const std::vector<AuditEntry>& entries, size_t i,
                                         const std::string& previous, int64_t expected,
                                         const std::map<std::string, size_t>& by_hash) {
  std::optional<AuditProblem> problem = CheckAuditLink(previous, expected, entries[i]);
  if (!problem.has_value()) return problem;
  const AuditEntry& entry = entries[i];
  if (entry.sequence != expected) return problem;  // a gap or a sequence out of order
  const bool self_consistent =
      AuditHash(entry.previous_hash, entry.sequence, entry.event) == entry.hash;
  if (self_consistent) {
    // The entry is as it was written at this place, so the one before it
    // is not the one it was written after: that one was replaced.
    if (expected == 1) {
      return Problem(1, AuditProblemKind::kAltered,
                     "entry 1 does not start the chain (it was replaced)");
    }
    return Problem(
        expected - 1, AuditProblemKind::kAltered,
        absl::StrCat("entry ", expected - 1, " was replaced and its hash recomputed: entry ",
                     expected, " was written after an entry with another hash"));
  }
  // Where it was written: the one sequence at which its contents hash to
  // its hash (one search, at the first problem only).
  const int64_t limit = static_cast<int64_t>(entries.size()) + kMaxRenumberSearch;
  std::optional<int64_t> written_at;
  for (int64_t at = 1; at <= limit && !written_at.has_value(); ++at) {
    if (at != entry.sequence && AuditHash(entry.previous_hash, at, entry.event) == entry.hash) {
      written_at = at;
    }
  }
  if (!written_at.has_value()) return AlteredProblem(entry.sequence);
  const bool predecessor_here =
      by_hash.count(entry.previous_hash) > 0 || entry.previous_hash == kAuditGenesisHash;
  if (*written_at > entry.sequence && !predecessor_here) {
    // Written further on, after an entry that is gone: entries were
    // deleted and the later ones renumbered to close the gap.
    const int64_t deleted = *written_at - entry.sequence;
    return Problem(entry.sequence, AuditProblemKind::kDeleted,
                   absl::StrCat(deleted == 1 ? absl::StrCat("entry ", entry.sequence, " was")
                                             : absl::StrCat("entries ", entry.sequence, " to ",
                                                            *written_at - 1, " were"),
                                " deleted and the later entries renumbered (the entry now at ",
                                entry.sequence, " was written as entry ", *written_at, ")"));
  }
  return Problem(entry.sequence, AuditProblemKind::kReordered,
                 absl::StrCat("entries were re-ordered: the entry at sequence ", entry.sequence,
                              " was written as entry ", *written_at));
}

}  // namespace

std::string AuditHash(const std::string& previous_hash, int64_t sequence, const AuditEvent& event) {
  crypto::Sha256Hasher hasher;
  hasher.Update(crypto::AsBytes("tessera audit v1"));
  hasher.UpdateLengthPrefixed(crypto::AsBytes(previous_hash));
  hasher.UpdateU64(static_cast<uint64_t>(sequence));
  hasher.UpdateU64(static_cast<uint64_t>(absl::ToUnixMillis(event.time)));
  for (const std::string* field :
       {&event.actor, &event.actor_role, &event.action, &event.subject, &event.details}) {
    hasher.UpdateLengthPrefixed(crypto::AsBytes(*field));
  }
  return crypto::DigestHex(hasher.Finish());
}

absl::StatusOr<std::string> AuditHeadMessage(int64_t sequence, absl::string_view hash) {
  if (sequence < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("an audit head names an entry (sequence >= 1), not ", sequence));
  }
  if (!crypto::IsSha256Hex(hash)) {
    return absl::InvalidArgumentError(
        "an audit head's hash must be 64 lower-case hex digits (a SHA-256)");
  }
  std::string message(kHeadContext, sizeof(kHeadContext));  // with the NUL
  for (int shift = 56; shift >= 0; shift -= 8) {
    message.push_back(static_cast<char>((static_cast<uint64_t>(sequence) >> shift) & 0xff));
  }
  message += absl::HexStringToBytes(hash);
  return message;
}

absl::string_view AuditProblemKindName(AuditProblemKind kind) {
  switch (kind) {
    case AuditProblemKind::kAltered:
      return "altered";
    case AuditProblemKind::kDeleted:
      return "deleted";
    case AuditProblemKind::kReordered:
      return "re-ordered";
    case AuditProblemKind::kBadHead:
      return "bad signed head";
  }
  return "unknown";
}

std::optional<AuditProblem> CheckAuditLink(absl::string_view previous_hash,
                                           int64_t expected_sequence, const AuditEntry& entry) {
  if (entry.sequence > expected_sequence) {
    return Problem(expected_sequence, AuditProblemKind::kDeleted,
                   entry.sequence == expected_sequence + 1
                       ? absl::StrCat("entry ", expected_sequence, " is missing (deleted)")
                       : absl::StrCat("entries ", expected_sequence, " to ", entry.sequence - 1,
                                      " are missing (deleted)"));
  }
  if (entry.sequence < expected_sequence) {
    return Problem(entry.sequence, AuditProblemKind::kReordered,
                   absl::StrCat("entry ", entry.sequence, " appears again after entry ",
                                expected_sequence - 1));
  }
  if (entry.previous_hash != previous_hash) {
    return Problem(entry.sequence, AuditProblemKind::kDeleted,
                   absl::StrCat("entry ", entry.sequence,
                                " does not follow the entry before it (entries were deleted, "
                                "replaced or re-ordered)"));
  }
  if (AuditHash(entry.previous_hash, entry.sequence, entry.event) != entry.hash) {
    return AlteredProblem(entry.sequence);
  }
  return std::nullopt;
}

absl::StatusOr<AuditLogReport> VerifyAuditLog(const std::vector<AuditEntry>& entries,
                                              const std::vector<AuditHeadRecord>& heads,
                                              absl::string_view ca_cert_pem) {
  auto ca = crypto::Certificate::FromPem(ca_cert_pem);
  if (!ca.ok()) return Annotate(ca.status(), "the federation CA certificate");

  AuditLogReport report;
  report.head_hash = kAuditGenesisHash;
  std::map<std::string, size_t> by_hash;
  for (size_t i = 0; i < entries.size(); ++i) by_hash.emplace(entries[i].hash, i);
  for (size_t i = 0; i < entries.size(); ++i) {
    const int64_t expected = static_cast<int64_t>(i) + 1;
    report.problem = ClassifyLink(entries, i, report.head_hash, expected, by_hash);
    if (report.problem.has_value()) return report;
    report.head_hash = entries[i].hash;
    report.entries = expected;
  }

  std::vector<const AuditHeadRecord*> sorted;
  for (const AuditHeadRecord& head : heads) sorted.push_back(&head);
  std::stable_sort(
      sorted.begin(), sorted.end(),
      [](const AuditHeadRecord* a, const AuditHeadRecord* b) { return a->sequence < b->sequence; });
  std::map<std::string, HeadCertificate> certificates;  // by PEM
  int64_t last_good = 0;                                // sequence of the last head that held
  for (const AuditHeadRecord* head : sorted) {
    const std::string when = TimeText(head->signed_at);
    auto bad_head = [&](const std::string& why) {
      return Problem(head->sequence, AuditProblemKind::kBadHead,
                     absl::StrCat("the signed head of entry ", head->sequence, " (signed ", when,
                                  ") does not hold: ", why));
    };
    auto [it, fresh] = certificates.try_emplace(head->certificate_pem);
    if (fresh) it->second = CheckHeadCertificate(head->certificate_pem, **ca, head->signed_at);
    HeadCertificate& signer = it->second;
    if (!signer.problem.ok()) {
      report.problem = bad_head(std::string(signer.problem.message()));
      return report;
    }
    if (head->signed_at < signer.certificate->not_before() ||
        head->signed_at > signer.certificate->not_after()) {
      report.problem = bad_head("its certificate was not valid when it was signed");
      return report;
    }
    auto message = AuditHeadMessage(head->sequence, head->hash);
    if (!message.ok()) {
      report.problem = bad_head(std::string(message.status().message()));
      return report;
    }
    if (!signer.verifier->Verify(crypto::AsBytes(*message), crypto::AsBytes(head->signature))
             .ok()) {
      report.problem =
          bad_head(absl::StrCat("the signature does not verify under the certificate "
                                "of coordinator `",
                                signer.common_name, "` (forged or altered)"));
      return report;
    }
    // A genuine head: the log must still hold what was signed.
    if (head->sequence > report.entries) {
      report.problem =
          Problem(report.entries + 1, AuditProblemKind::kDeleted,
                  absl::StrCat(report.entries + 1 == head->sequence
                                   ? absl::StrCat("entry ", head->sequence, " was")
                                   : absl::StrCat("entries ", report.entries + 1, " to ",
                                                  head->sequence, " (at least) were"),
                               " deleted from the end of the log: the coordinator signed entry ",
                               head->sequence, " on ", when, " but the log ends at entry ",
                               report.entries));
      return report;
    }
    // Entry k is entries[k - 1]: the walk above found no gap.
    const std::string& logged = entries[static_cast<size_t>(head->sequence - 1)].hash;
    if (logged != head->hash) {
      report.problem = Problem(
          last_good + 1, AuditProblemKind::kAltered,
          absl::StrCat("an entry from ", last_good + 1, " to ", head->sequence,
                       " was altered and the chain's hashes recomputed: the coordinator signed "
                       "hash ",
                       head->hash, " for entry ", head->sequence, " on ", when,
                       ", but the log now has ", logged));
      return report;
    }
    last_good = head->sequence;
    ++report.signed_heads;
    report.latest_head = *head;
    report.latest_head_signer = signer.common_name;
  }
  report.unsigned_entries = report.entries - last_good;
  return report;
}

}  // namespace tessera::coordinator
