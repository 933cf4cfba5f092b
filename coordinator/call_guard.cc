#include "coordinator/call_guard.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace tessera::coordinator {

bool RateLimiter::Allow(const std::string& key) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mutex_);
  auto [it, inserted] = buckets_.try_emplace(key);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
  } else {
    const double elapsed = absl::ToDoubleSeconds(now - bucket.refilled);
    bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * rate_);
  }
  bucket.refilled = now;
  if (bucket.tokens < 1.0) return false;
  bucket.tokens -= 1.0;
  return true;
}

bool Sessions::Touch(const transport::PeerIdentity& caller, absl::string_view method) {
  switch (caller.role) {
    case transport::Role::kSite:
    case transport::Role::kCoordinator:
      return false;
    case transport::Role::kOperator:
    case transport::Role::kMlLead:
    case transport::Role::kGovernance:
    case transport::Role::kAuditor:
      break;
  }
  const absl::Time now = clock_.Now();
  // One person may hold certificates of several roles: each is a login.
  const std::string key = absl::StrCat(transport::RoleName(caller.role), "/", caller.id);
  bool starts = false;
  {
    absl::MutexLock lock(&mutex_);
    auto [it, first] = last_call_.try_emplace(key, now);
    starts = first || now - it->second >= idle_;
    it->second = std::max(it->second, now);
  }
  if (starts && record_) record_(caller, method);
  return starts;
}

absl::StatusOr<transport::PeerIdentity> CallGuard::Admit(
    const grpc::ServerContext& context, std::initializer_list<transport::Role> allowed,
    absl::string_view method) {
  auto log = Logger("coordinator");
  auto identity = identify_(context);
  if (!identity.ok()) {
    log->warn("call refused method={} peer={} reason=\"{}\"", std::string(method), context.peer(),
              std::string(identity.status().message()));
    return identity.status();
  }
  const std::string role(transport::RoleName(identity->role));
  if (std::optional<absl::Time> revoked = revocations_.RevokedAt(identity->serial_hex)) {
    log->warn("call refused method={} caller={} role={} serial={} reason=revoked",
              std::string(method), identity->id, role, identity->serial_hex);
    return absl::UnauthenticatedError(absl::StrCat(
        "the certificate of `", identity->id, "` (serial ", identity->serial_hex,
        ") was revoked on ", absl::FormatTime("%Y-%m-%d %H:%M UTC", *revoked, absl::UTCTimeZone()),
        "; ask the federation operator for a new one"));
  }
  if (std::find(allowed.begin(), allowed.end(), identity->role) == allowed.end()) {
    log->warn("call refused method={} caller={} role={} reason=role", std::string(method),
              identity->id, role);
    return absl::PermissionDeniedError(
        absl::StrCat("`", identity->id, "` (role ", role, ") may not call ", method));
  }
  if (!limiter_.Allow(identity->id)) {
    log->warn("call refused method={} caller={} reason=rate-limit", std::string(method),
              identity->id);
    return absl::ResourceExhaustedError(absl::StrCat(
        "`", identity->id, "` is calling faster than its rate limit; slow down and retry"));
  }
  if (sessions_ != nullptr) sessions_->Touch(*identity, method);
  return identity;
}

}  // namespace tessera::coordinator
