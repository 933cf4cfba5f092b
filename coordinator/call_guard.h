// The gate every coordinator RPC passes first: who is calling (from the
// verified certificate only), whether that certificate is revoked, whether
// its role may make this call, and whether it is within its rate limit.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <initializer_list>
#include <map>
#include <string>

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

class CallGuard {
 public:
  CallGuard(const Revocations& revocations, RateLimiter& limiter)
      : revocations_(revocations), limiter_(limiter) {}

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
};

}  // namespace tessera::coordinator
