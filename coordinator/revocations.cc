#include "coordinator/revocations.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "transport/pki.h"

namespace tessera::coordinator {

absl::StatusOr<size_t> Revocations::Apply(const std::string& crl_pem, bool persist) {
  TESSERA_ASSIGN_OR_RETURN(transport::RevocationList list,
                           transport::ParseCrl(ca_cert_pem_, crl_pem));
  absl::MutexLock lock(&mutex_);
  if (list.issued_at < issued_at_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the revocation list was issued at ",
        absl::FormatTime(absl::RFC3339_sec, list.issued_at, absl::UTCTimeZone()),
        ", before the one in force (",
        absl::FormatTime(absl::RFC3339_sec, issued_at_, absl::UTCTimeZone()),
        "); publish the CA's current crl.pem"));
  }
  if (persist && !crl_file_.empty()) {
    TESSERA_RETURN_IF_ERROR(WriteFileAtomically(crl_file_, crl_pem, 0644));
    struct stat info;
    if (::stat(crl_file_.c_str(), &info) == 0) {
      file_mtime_ns_ = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                       info.st_mtim.tv_nsec;
      file_size_ = static_cast<int64_t>(info.st_size);
    }
  }
  issued_at_ = list.issued_at;
  revoked_.clear();
  for (const transport::RevokedEntry& entry : list.revoked) {
    revoked_[entry.serial_hex] = entry.revoked_at;
  }
  return revoked_.size();
}

absl::Status Revocations::ReloadIfChanged() {
  if (crl_file_.empty()) return absl::OkStatus();
  struct stat info;
  if (::stat(crl_file_.c_str(), &info) != 0) {
    absl::MutexLock lock(&mutex_);
    if (errno == ENOENT && file_mtime_ns_ < 0) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("revocation list `", crl_file_, "` has gone; the last one loaded stays in force"));
  }
  const int64_t mtime_ns =
      static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  {
    absl::MutexLock lock(&mutex_);
    if (mtime_ns == file_mtime_ns_ && static_cast<int64_t>(info.st_size) == file_size_) {
      return absl::OkStatus();
    }
  }
  TESSERA_ASSIGN_OR_RETURN(std::string pem, ReadFileToString(crl_file_, "revocation list"));
  auto applied = Apply(pem, /*persist=*/false);
  // Remember the file either way, so a bad file is reported once, not on
  // every poll.
  absl::MutexLock lock(&mutex_);
  file_mtime_ns_ = mtime_ns;
  file_size_ = static_cast<int64_t>(info.st_size);
  if (!applied.ok()) return Annotate(applied.status(), absl::StrCat("revocation list `", crl_file_, "`"));
  return absl::OkStatus();
}

std::optional<absl::Time> Revocations::RevokedAt(const std::string& serial_hex) const {
  absl::MutexLock lock(&mutex_);
  auto it = revoked_.find(serial_hex);
  if (it == revoked_.end()) return std::nullopt;
  return it->second;
}

size_t Revocations::size() const {
  absl::MutexLock lock(&mutex_);
  return revoked_.size();
}

}  // namespace tessera::coordinator
