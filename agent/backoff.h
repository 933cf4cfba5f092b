// Exponential backoff with full jitter for reconnecting to the coordinator,
// so that many trusts coming back after an outage do not all call at once.
//
// Delay n (from 0) is drawn uniformly from [0, min(max, initial * 2^n)].
// Pure: randomness comes from an injected generator.
//
// Thread-safety: not thread-safe.
#pragma once

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace tessera::agent {

class Backoff {
 public:
  // Preconditions: 0 < initial <= max.
  Backoff(absl::Duration initial, absl::Duration max, uint64_t seed)
      : initial_(initial), max_(max), rng_(seed) {}

  // The next delay to wait before retrying; grows until Reset().
  absl::Duration NextDelay();

  // Called after a success: the next failure starts from `initial` again.
  void Reset() { attempt_ = 0; }

  int attempt() const { return attempt_; }

 private:
  absl::Duration initial_;
  absl::Duration max_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace tessera::agent
