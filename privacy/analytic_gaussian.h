// The exact (epsilon, delta) curve of the Gaussian mechanism without
// sampling: Balle & Wang 2018, "Improving the Gaussian Mechanism for
// Differential Privacy" (arXiv:1805.06530), Theorem 8:
//   delta(eps) = Phi(D/(2s) - eps s/D) - e^eps Phi(-D/(2s) - eps s/D)
// for noise standard deviation s and L2 sensitivity D; we write z = s/D (the
// noise multiplier). T-fold composition of Gaussian mechanisms with noise
// multiplier z is exactly one Gaussian mechanism with noise multiplier
// z / sqrt(T) (the privacy loss of each is N(1/(2z^2), 1/z^2) and they add).
//
// This is the ground truth the PLD accountant is tested against (q = 1).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace tessera::privacy {

// delta(eps) of the Gaussian mechanism with noise multiplier z > 0, for any
// real eps; accurate in relative terms even when delta is 1e-300 (the
// difference is formed from scaled normal tails, not subtracted).
double GaussianDelta(double noise_multiplier, double epsilon);

// The smallest eps >= 0 with delta(eps) <= delta, to a relative precision of
// 1e-12 (the returned eps always satisfies delta(eps) <= delta).
// INVALID_ARGUMENT unless noise_multiplier > 0 and 0 < delta < 1.
absl::StatusOr<double> GaussianEpsilon(double noise_multiplier, double delta);

// The noise multiplier of one Gaussian mechanism equivalent to `steps`
// compositions of noise multiplier z: z / sqrt(steps).
double ComposedGaussianNoiseMultiplier(double noise_multiplier, int64_t steps);

}  // namespace tessera::privacy
