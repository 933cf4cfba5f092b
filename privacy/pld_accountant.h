// Privacy-loss-distribution (PLD) accounting for the Poisson-subsampled
// Gaussian mechanism: a tighter epsilon than RDP that is still an upper bound.
//
// Method (Meiser & Mohammadi 2018; Koskela, Jalko & Honkela 2020; Google's
// dp_accounting PLD library):
//  1. For each direction of the add/remove relation -- remove: P = (1-q) N(0,s^2)
//     + q N(1,s^2) against Q = N(0,s^2); add: the same pair swapped -- the
//     privacy loss L = log(dP/dQ) under P is discretised on the grid {i h}
//     with the "connect-the-dots" construction of Doroshenko, Ghazi, Kamath,
//     Kumar & Manurangsi 2022 (arXiv:2207.04380): the P- and Q-mass of every
//     loss bucket (l_{i-1}, l_i] is moved to its two end points so that both
//     masses are preserved. Any pair whose likelihood ratio lies in
//     [e^{l_{i-1}}, e^{l_i}] is a post-processing of that two-point pair, so
//     the discretised PLD dominates the true one for every epsilon; tails
//     are handled pessimistically (upper tail to +infinity, lower tail moved
//     up to the first grid point).
//  2. Dominating pairs compose (Zhu, Dong & Wang 2022, arXiv:2106.08567,
//     Theorem 10), so the T-fold composition is the T-fold convolution of the
//     discretised PLDs, computed with one real FFT per distinct event: the
//     spectra are raised to the event counts and multiplied.
//  3. The FFT is circular with length N. The window [lo, lo + N) of loss
//     indices is chosen from Chernoff bounds on the composed sum; the mass
//     outside it is bounded rigorously (Chernoff, on the discretised PLD) and
//     added to delta, as is a bound on the FFT's rounding error (Higham Thm
//     24.2) and negative round-off (clamped to 0).
//  4. delta(eps) = P[L = +inf] + E[(1 - e^{eps - L})_+] for each direction;
//     the reported delta is the larger of the two, epsilon the smallest
//     value whose delta is at most the target.
//
// Every approximation above errs towards a larger delta, so the epsilon is an
// upper bound on the true privacy loss. Only PoissonGaussianEvent is
// supported; Skellam events are accounted with RDP (rdp_accountant.h).
//
// Thread-safety: ComposedPld is immutable and may be queried concurrently;
// PldAccountant is a value type (Compose must not race with anything).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "privacy/dp_event.h"

namespace tessera::privacy {

struct PldOptions {
  // Largest grid spacing of the privacy loss. The accountant uses 1/20 of the
  // per-step loss's standard deviation when that is smaller (so the
  // discretisation error does not grow with the number of steps), and a
  // coarser grid only when the composed distribution would not fit in
  // 2^max_log2_size points. A finer grid is tighter and slower.
  double discretization = 1e-3;
  // The largest FFT length is 2^max_log2_size (memory ~ 40 * 2^max bytes).
  int max_log2_size = 19;
};

// One direction's composed, discretised privacy-loss distribution.
struct DiscretePld {
  double discretization = 0;   // h
  int64_t first_index = 0;     // mass[k] is the probability of loss (first_index + k) h
  std::vector<double> mass;
  double infinity_mass = 0;    // probability of loss = +infinity
  double error_bound = 0;      // rigorous bound on the mass lost to truncation and rounding
};

// The composition of a ledger of Poisson-subsampled Gaussian events.
class ComposedPld {
 public:
  // delta(eps) = max over both directions; a rigorous upper bound.
  double Delta(double epsilon) const;
  // The smallest eps >= 0 with Delta(eps) <= delta; +infinity when even an
  // infinite epsilon cannot reach delta. INVALID_ARGUMENT unless 0 < delta < 1.
  absl::StatusOr<double> Epsilon(double delta) const;

  const std::vector<DiscretePld>& directions() const { return directions_; }

 private:
  friend absl::StatusOr<ComposedPld> ComposePld(const PrivacyLedger&, const PldOptions&);
  std::vector<DiscretePld> directions_;
};

// Builds the composed PLD of every entry of `ledger`. INVALID_ARGUMENT for
// bad options; UNIMPLEMENTED when the ledger holds a Skellam event;
// OUT_OF_RANGE for settings too extreme for the discretisation (e.g. noise
// multipliers around 1e-6), which the RDP accountant still handles.
absl::StatusOr<ComposedPld> ComposePld(const PrivacyLedger& ledger,
                                       const PldOptions& options = {});

// Convenience wrapper with the same shape as RdpAccountant.
class PldAccountant {
 public:
  explicit PldAccountant(PldOptions options = {}) : options_(options) {}

  // Adds `count` occurrences of `event`. INVALID_ARGUMENT for an invalid event
  // or negative count; UNIMPLEMENTED for Skellam events.
  absl::Status Compose(const DpEvent& event, int64_t count = 1);
  absl::Status Compose(const PrivacyLedger& ledger);

  // See ComposedPld; each call recomputes the composition.
  absl::StatusOr<double> Epsilon(double delta) const;
  absl::StatusOr<double> Delta(double epsilon) const;

 private:
  PldOptions options_;
  PrivacyLedger ledger_;
};

}  // namespace tessera::privacy
