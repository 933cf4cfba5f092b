// Renyi differential privacy (RDP) accounting for the events in dp_event.h,
// and the conversion from an RDP curve to an (epsilon, delta) guarantee.
//
// Poisson-subsampled Gaussian, add/remove neighbours (Mironov, Talwar & Zhang
// 2019, arXiv:1908.10530, Section 3.3): RDP(alpha) = log(A_alpha) / (alpha - 1)
// with A_alpha = E_{z ~ N(0, s^2)} [((1 - q) + q exp((2z - 1) / (2 s^2)))^alpha].
//   - integer alpha: the binomial sum A = sum_k C(alpha,k) (1-q)^(alpha-k) q^k
//     exp((k^2 - k) / (2 s^2)), evaluated as log1p of the sum over k >= 2 of
//     the terms times expm1(...), so that tiny RDP values keep full precision;
//   - fractional alpha: the two-sided series of Section 3.3 split at
//     z0 = s^2 log(1/q - 1) + 1/2, summed WITH THE SIGNS of the generalised
//     binomial coefficients. From i = floor(alpha) + 2 on, the terms alternate
//     in sign and shrink, so the true A lies between consecutive partial sums;
//     we return the larger of the last two, a rigorous upper bound whatever
//     the truncation point. (Google dp_accounting's 2024 variant sums absolute
//     values instead and is loose by up to 2x; we do not follow it.)
// Skellam: Agarwal, Kairouz & Liu 2021 (arXiv:2110.04995) Theorem 3.5 /
//   Corollary 3.6, integer alpha > 1 only (fractional orders are +infinity):
//   RDP(alpha) <= alpha D2^2 / (2 mu) + min(((2 alpha - 1) D2^2 + 6 D1) / (4 mu^2),
//                                         3 D1 / (2 mu)).
// Composition adds RDP curves order by order (Mironov 2017, Proposition 1).
//
// Conversions to (epsilon, delta):
//   - kImproved (production): eps = min_alpha RDP(alpha) + log1p(-1/alpha)
//     - (log delta + log alpha) / (alpha - 1)  (Canonne, Kamath & Steinke 2020,
//     arXiv:2004.00010, Proposition 12; Balle et al. 2020, arXiv:1905.09982,
//     Theorem 21). Never larger than kClassic.
//   - kClassic: eps = min_alpha RDP(alpha) + log(1/delta) / (alpha - 1)
//     (Mironov 2017, Proposition 3; the moments accountant of Abadi et al. 2016).
//
// Thread-safety: free functions are pure. RdpAccountant is a value type: const
// methods may be called concurrently, Compose must not race with anything.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/dp_event.h"

namespace tessera::privacy {

// RDP at `order` (> 1) of one step of the Poisson-subsampled Gaussian
// mechanism with sensitivity 1. 0 when sampling_rate == 0; +infinity when
// noise_multiplier == 0 (and q > 0). q == 1 gives alpha / (2 z^2) exactly.
// Preconditions: the arguments pass ValidateEvent; order > 1 and finite.
double PoissonGaussianRdp(double sampling_rate, double noise_multiplier, double order);

// RDP at `order` of one release of the Skellam sum (see dp_event.h);
// +infinity at non-integer orders, where the bound is not established.
double SkellamRdp(const SkellamEvent& event, double order);

// RDP of one occurrence of `event` at `order`.
double EventRdp(const DpEvent& event, double order);

enum class RdpConversion { kImproved, kClassic };

struct RdpEpsilon {
  double epsilon = 0;  // +infinity when no order gives a finite bound
  double order = 0;    // the order that attains it (0 when epsilon is infinite)
};

struct RdpDelta {
  double delta = 1;
  double order = 0;
};

// The best (epsilon, delta) guarantee implied by an RDP curve. INVALID_ARGUMENT
// when the spans differ in length or are empty, an order is not > 1, or delta
// is not in (0, 1). Epsilon is clamped at 0 (a negative bound means 0 holds).
absl::StatusOr<RdpEpsilon> EpsilonFromRdp(absl::Span<const double> orders,
                                          absl::Span<const double> rdp, double delta,
                                          RdpConversion conversion = RdpConversion::kImproved);

// The smallest delta at which the curve gives `epsilon` (improved conversion),
// capped at 1. INVALID_ARGUMENT for bad spans or a negative/non-finite epsilon.
absl::StatusOr<RdpDelta> DeltaFromRdp(absl::Span<const double> orders,
                                      absl::Span<const double> rdp, double epsilon);

class RdpAccountant {
 public:
  // The grid of orders used unless told otherwise: 1.01 ... 1.09 (step 0.01),
  // 1.1 ... 10.9 (step 0.1), 11 ... 63, and 64, 80, 96, 128, 160, 192, 256,
  // 320, 384, 512, 768, 1024 -- Google dp_accounting's and Opacus' usual grid
  // with extra orders near 1 (large epsilon) and above 64 (tiny delta).
  static const std::vector<double>& DefaultOrders();

  // An accountant over DefaultOrders().
  RdpAccountant();
  // An accountant over `orders`; INVALID_ARGUMENT unless every order is
  // finite and > 1 and there is at least one.
  static absl::StatusOr<RdpAccountant> WithOrders(std::vector<double> orders);

  // Adds `count` occurrences of `event`. INVALID_ARGUMENT for an invalid
  // event or a negative count (the accountant is unchanged then).
  absl::Status Compose(const DpEvent& event, int64_t count = 1);
  // Adds every entry of `ledger`.
  absl::Status Compose(const PrivacyLedger& ledger);

  const std::vector<double>& orders() const { return orders_; }
  // The composed RDP at each order (+infinity where it is unbounded).
  const std::vector<double>& rdp() const { return rdp_; }

  // See EpsilonFromRdp / DeltaFromRdp.
  absl::StatusOr<RdpEpsilon> Epsilon(double delta,
                                     RdpConversion conversion = RdpConversion::kImproved) const;
  absl::StatusOr<RdpDelta> Delta(double epsilon) const;

 private:
  explicit RdpAccountant(std::vector<double> orders);
  std::vector<double> orders_;
  std::vector<double> rdp_;
};

}  // namespace tessera::privacy
