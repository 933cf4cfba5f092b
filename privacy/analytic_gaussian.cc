#include "privacy/analytic_gaussian.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "privacy/dp_event.h"
#include "privacy/numerics.h"

namespace tessera::privacy {

double GaussianDelta(double noise_multiplier, double epsilon) {
  // With c = 1/(2z) and y = eps z - c, Theorem 8 reads
  //   delta = Phi_c(y) - e^eps Phi_c(y + 2c).
  // Writing Phi_c(t) = exp(-t^2/2) g(t), the exponents cancel exactly
  // (eps - (y + 2c)^2/2 + y^2/2 = 0), leaving
  //   delta = Phi_c(y) (1 - g(y + 2c) / g(y)),
  // which loses no precision to cancellation.
  const long double z = noise_multiplier;
  const long double c = 1.0L / (2.0L * z);
  const long double y = static_cast<long double>(epsilon) * z - c;
  const long double log_ratio = LogScaledNormalTail(y + 2 * c) - LogScaledNormalTail(y);
  return static_cast<double>(std::exp(LogNormalTail(y)) * -std::expm1(log_ratio));
}

absl::StatusOr<double> GaussianEpsilon(double noise_multiplier, double delta) {
  if (!(noise_multiplier > 0) || !std::isfinite(noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise multiplier must be finite and > 0, got ", noise_multiplier));
  }
  if (absl::Status status = ValidateDelta(delta); !status.ok()) return status;
  if (GaussianDelta(noise_multiplier, 0) <= delta) return 0.0;
  // delta(eps) decreases in eps: bracket, then bisect.
  double lo = 0;
  double hi = 1;
  while (GaussianDelta(noise_multiplier, hi) > delta) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1e-12 * hi) {
    const double mid = 0.5 * (lo + hi);
    if (GaussianDelta(noise_multiplier, mid) > delta) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return hi;
}

double ComposedGaussianNoiseMultiplier(double noise_multiplier, int64_t steps) {
  return noise_multiplier / std::sqrt(static_cast<double>(steps));
}

}  // namespace tessera::privacy
