// The gate every coordinator RPC passes first: who is calling (from the
// verified certificate only), whether that certificate is revoked, whether
// its role may make this call, and whether it is within its rate limit.
// It also notices when a person logs in: the first admitted call of a
// person's certificate since the coordinator started, or after an hour
// without calls (Sessions), which the coordinator writes to the audit log.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "coordinator/revocations.h"
#include "grpcpp/grpcpp.h"
#include "transport/peer.h"

namespace tessera::coordinator {

// A token bucket per caller: `rate` calls per second on average, bursts of
// up to `burst`. Pure: time comes from the clock.
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, double rate, double burst)
      : clock_(clock), rate_(rate), burst_(burst) {}

  // Takes one token for `key`; false when its bucket is empty.
  bool Allow(const std::string& key);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  const Clock& clock_;
  const double rate_;
  const double burst_;
  absl::Mutex mutex_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mutex_);
};

// Sessions of people (operators, ML leads, governance, auditors): a call
// starts one when its caller has made no call since start-up or none for
// `idle`. Pure: time comes from the clock.
class Sessions {
 public:
  // Called with the caller and the method of each call that starts a
  // session (outside any lock; it may write to the store).
  using LoginRecorder =
      std::function<void(const transport::PeerIdentity& person, absl::string_view method)>;

  static constexpr absl::Duration kIdle = absl::Hours(1);

  Sessions(const Clock& clock, LoginRecorder record, absl::Duration idle = kIdle)
      : clock_(clock), record_(std::move(record)), idle_(idle) {}

  // Notes a call by `caller` (sites and the coordinator are not people and
  // are ignored); returns true, after recording it, when the call starts a
  // session. Of concurrent first calls by one person, exactly one does.
  bool Touch(const transport::PeerIdentity& caller, absl::string_view method);

 private:
  const Clock& clock_;
  const LoginRecorder record_;
  const absl::Duration idle_;
  absl::Mutex mutex_;
  std::map<std::string, absl::Time> last_call_ ABSL_GUARDED_BY(mutex_);  // by "role/id"
};

class CallGuard {
 public:
  // Where a call's identity comes from. The coordinator always uses the
  // verified client certificate (transport::IdentityFromContext); the fuzz
  // targets (tests/fuzz/) give the caller they chose, so that they run the
  // handlers themselves without a network or TLS.
  using IdentitySource =
      std::function<absl::StatusOr<transport::PeerIdentity>(const grpc::ServerContext& context)>;

  // With `sessions`, every admitted call is noted there (logins).
  CallGuard(const Revocations& revocations, RateLimiter& limiter, Sessions* sessions = nullptr,
            IdentitySource identify = transport::IdentityFromContext)
      : revocations_(revocations),
        limiter_(limiter),
        sessions_(sessions),
        identify_(std::move(identify)) {}

  // The caller's identity when it may call `method`. UNAUTHENTICATED when it
  // has no verified certificate or the certificate is revoked;
  // PERMISSION_DENIED when its role is not in `allowed`; RESOURCE_EXHAUSTED
  // when it calls faster than its limit. Refusals are logged.
  absl::StatusOr<transport::PeerIdentity> Admit(const grpc::ServerContext& context,
                                                std::initializer_list<transport::Role> allowed,
                                                absl::string_view method);

 private:
  const Revocations& revocations_;
  RateLimiter& limiter_;
  Sessions* const sessions_;
  const IdentitySource identify_;
};

}  // namespace tessera::coordinator
