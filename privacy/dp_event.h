// What was released, in the vocabulary the accountants understand: the
// privacy "events" of Tessera's two guarantees and a ledger that composes
// them round after round, with different settings per round.
//
//   - PoissonGaussianEvent: one step of DP-SGD (record-level) or of DP-FedAvg
//     with Gaussian noise: each record (or site) is included independently
//     with probability `sampling_rate`, contributions are clipped to L2 norm
//     1 (sensitivity 1 after dividing by the clip norm), and Gaussian noise of
//     standard deviation `noise_multiplier` is added. Neighbouring datasets
//     differ by adding or removing one record.
//   - SkellamEvent: one round of site-level distributed DP (Agarwal, Kairouz &
//     Liu 2021, arXiv:2110.04995): the securely aggregated sum of integer
//     vectors, one per site, each with L2 norm at most `l2_sensitivity` and L1
//     norm at most `l1_sensitivity`, plus symmetric Skellam noise whose
//     per-coordinate variance is `variance` (the noise of the sites that are
//     guaranteed to survive the round). All three are in integer units.
//
// A PrivacyLedger is the record the coordinator and each agent keep: an
// ordered list of (event, count). Both accountants consume it.
//
// Thread-safety: plain values; const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace tessera::privacy {

struct PoissonGaussianEvent {
  double noise_multiplier = 0;  // noise standard deviation / L2 sensitivity; 0 = no noise
  double sampling_rate = 1.0;   // Poisson inclusion probability in [0, 1]; 1 = no sampling
  bool operator==(const PoissonGaussianEvent& other) const {
    return noise_multiplier == other.noise_multiplier && sampling_rate == other.sampling_rate;
  }
};

struct SkellamEvent {
  double l2_sensitivity = 0;  // bound on one site's rounded vector, L2 norm (integer units)
  double l1_sensitivity = 0;  // the same vector's L1 norm bound (integer units)
  double variance = 0;        // per-coordinate variance of the aggregate Skellam noise
  bool operator==(const SkellamEvent& other) const {
    return l2_sensitivity == other.l2_sensitivity && l1_sensitivity == other.l1_sensitivity &&
           variance == other.variance;
  }
};

using DpEvent = std::variant<PoissonGaussianEvent, SkellamEvent>;

// OK when the event's parameters are meaningful; INVALID_ARGUMENT naming the
// offending parameter otherwise (negative or non-finite noise, a sampling
// rate outside [0, 1], non-positive sensitivities or variance, L1 smaller
// than L2).
absl::Status ValidateEvent(const DpEvent& event);

// ValidateEvent, and count >= 0 (INVALID_ARGUMENT otherwise).
absl::Status ValidateEntry(const DpEvent& event, int64_t count);

// OK when 0 < delta < 1; INVALID_ARGUMENT otherwise.
absl::Status ValidateDelta(double delta);

// One line for logs and reports, e.g. "poisson-gaussian(z=1.1, q=0.01)".
std::string DescribeEvent(const DpEvent& event);

struct LedgerEntry {
  DpEvent event;
  int64_t count = 0;  // how many times the event was repeated (steps or rounds)
};

class PrivacyLedger {
 public:
  // Records `count` repetitions of `event`, merging with the last entry when
  // it is the same event. INVALID_ARGUMENT when the event is invalid or
  // count is negative; the ledger is unchanged then.
  absl::Status Add(const DpEvent& event, int64_t count);

  const std::vector<LedgerEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<LedgerEntry> entries_;
};

}  // namespace tessera::privacy
