#include "coordinator/audit_signer.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "transport/peer.h"
#include "transport/pki.h"

namespace tessera::coordinator {
namespace {

// Entries read from the store at a time while checking the chain.
constexpr int64_t kCheckPage = 1000;

}  // namespace

absl::StatusOr<std::unique_ptr<AuditSigner>> AuditSigner::FromFiles(Store& store,
                                                                    const Clock& clock,
                                                                    const std::string& cert_file,
                                                                    const std::string& key_file) {
  TESSERA_ASSIGN_OR_RETURN(std::string certificate_pem,
                           ReadFileToString(cert_file, "coordinator certificate"));
  auto identity = transport::IdentityFromCertificatePem(certificate_pem);
  if (!identity.ok()) return Annotate(identity.status(), cert_file);
  if (identity->role != transport::Role::kCoordinator) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_file, " is a certificate of role ", transport::RoleName(identity->role),
                     ", not of the coordinator; the audit log is signed with the coordinator's "
                     "own certificate ([tls] cert_file)"));
  }
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem,
                           ReadFileToString(key_file, "coordinator private key"));
  absl::Status matches = transport::CheckKeyMatchesCertificate(key_pem, certificate_pem);
  auto signer = crypto::PrivateKeySigner::FromPem(key_pem);
  std::fill(key_pem.begin(), key_pem.end(), '\0');
  if (!matches.ok()) return Annotate(matches, absl::StrCat(key_file, " and ", cert_file));
  if (!signer.ok()) return Annotate(signer.status(), key_file);
  return std::make_unique<AuditSigner>(store, clock, std::move(*signer),
                                       std::move(certificate_pem));
}

absl::Status AuditSigner::CheckNewEntries(const AuditEntry& head) {
  // A head signed beyond the last entry: entries were cut from the end (and
  // new ones may since have taken their numbers).
  TESSERA_ASSIGN_OR_RETURN(std::vector<AuditHeadRecord> beyond,
                           store_.ListAuditHeads(head.sequence));
  if (!beyond.empty()) {
    return absl::DataLossError(absl::StrCat(
        "the audit log does not verify: the coordinator signed entry ", beyond.back().sequence,
        " but the log ends at entry ", head.sequence, " (entries deleted from the end)"));
  }
  // The signed heads in the range, to compare with the chain as it is walked.
  TESSERA_ASSIGN_OR_RETURN(std::vector<AuditHeadRecord> heads,
                           store_.ListAuditHeads(verified_sequence_, head.sequence));
  std::map<int64_t, std::string> signed_hashes;
  for (AuditHeadRecord& signed_head : heads) {
    signed_hashes.emplace(signed_head.sequence, std::move(signed_head.hash));
  }
  int64_t sequence = verified_sequence_;
  std::string hash = verified_hash_;
  while (sequence < head.sequence) {
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<AuditEntry> page,
        store_.ReadAudit(sequence, std::min(kCheckPage, head.sequence - sequence)));
    if (page.empty()) {
      return absl::DataLossError(absl::StrCat("audit entries ", sequence + 1, " to ", head.sequence,
                                              " disappeared while being checked"));
    }
    for (const AuditEntry& entry : page) {
      if (std::optional<AuditProblem> problem = CheckAuditLink(hash, sequence + 1, entry)) {
        return absl::DataLossError(
            absl::StrCat("the audit log does not verify: ", problem->description));
      }
      if (auto it = signed_hashes.find(entry.sequence);
          it != signed_hashes.end() && it->second != entry.hash) {
        return absl::DataLossError(
            absl::StrCat("the audit log does not verify: entry ", entry.sequence,
                         " no longer has the hash the coordinator signed (the chain was "
                         "rewritten up to it)"));
      }
      sequence = entry.sequence;
      hash = entry.hash;
    }
  }
  if (hash != head.hash) {
    return absl::DataLossError(
        absl::StrCat("audit entry ", head.sequence, " changed while the chain was being checked"));
  }
  verified_sequence_ = sequence;
  verified_hash_ = std::move(hash);
  if (!signed_hashes.empty())
    signed_sequence_ = std::max(signed_sequence_, signed_hashes.rbegin()->first);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<AuditHeadRecord>> AuditSigner::SignHead() {
  absl::MutexLock lock(&mutex_);
  if (!broken_.ok()) return broken_;
  TESSERA_ASSIGN_OR_RETURN(std::optional<AuditEntry> head, store_.LatestAudit());
  const int64_t last = head.has_value() ? head->sequence : 0;
  if (last < verified_sequence_) {
    broken_ = absl::DataLossError(absl::StrCat("the audit log does not verify: it ends at entry ",
                                               last, " but had entries up to ", verified_sequence_,
                                               " (deleted from the end)"));
    return broken_;
  }
  if (!head.has_value() || head->sequence <= signed_sequence_) return std::nullopt;
  absl::Status checked = CheckNewEntries(*head);
  if (checked.code() == absl::StatusCode::kDataLoss) broken_ = checked;
  TESSERA_RETURN_IF_ERROR(checked);
  if (head->sequence <= signed_sequence_) return std::nullopt;  // signed before a restart

  TESSERA_ASSIGN_OR_RETURN(std::string message, AuditHeadMessage(head->sequence, head->hash));
  TESSERA_ASSIGN_OR_RETURN(std::vector<uint8_t> signature, signer_->Sign(crypto::AsBytes(message)));
  AuditHeadRecord record;
  record.sequence = head->sequence;
  record.hash = head->hash;
  // Milliseconds, as the store keeps them: the record returned is the one
  // read back.
  record.signed_at = absl::FromUnixMillis(absl::ToUnixMillis(clock_.Now()));
  record.signature = std::string(crypto::AsStringView(signature));
  record.certificate_pem = certificate_pem_;
  TESSERA_RETURN_IF_ERROR(store_.RecordAuditHead(record));
  signed_sequence_ = head->sequence;
  return std::optional<AuditHeadRecord>(std::move(record));
}

void AuditSigner::SignAndLog(std::string& last_error) {
  auto log = Logger("coordinator");
  auto signed_head = SignHead();
  if (!signed_head.ok()) {
    const std::string error(signed_head.status().message());
    if (error != last_error) {
      log->error("audit head not signed error=\"{}\"", error);
      last_error = error;
    }
    return;
  }
  last_error.clear();
  if (signed_head->has_value()) {
    log->info("audit head signed sequence={} hash={}", (*signed_head)->sequence,
              (*signed_head)->hash);
  }
}

void AuditSigner::Start(absl::Duration interval) {
  absl::MutexLock lock(&thread_mutex_);
  if (thread_.joinable()) return;
  stop_ = std::make_unique<absl::Notification>();
  thread_ = std::thread([this, interval, stop = stop_.get()] {
    std::string last_error;
    do {
      SignAndLog(last_error);
    } while (!stop->WaitForNotificationWithTimeout(interval));
  });
}

void AuditSigner::Stop() {
  {
    absl::MutexLock lock(&thread_mutex_);
    if (!thread_.joinable()) return;
    stop_->Notify();
    thread_.join();
    thread_ = std::thread();
  }
  std::string last_error;
  SignAndLog(last_error);
}

}  // namespace tessera::coordinator
