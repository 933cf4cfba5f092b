// Samplers for the privacy mechanisms: Poisson and symmetric Skellam noise,
// and Poisson sampling of record indices for DP-SGD.
//
//   - Poisson(mean): inversion by sequential search (Devroye 1986, Non-Uniform
//     Random Variate Generation, Sec. X.3) for mean < 10; above, Hormann's
//     PTRS transformed rejection (W. Hormann 1993, "The transformed rejection
//     method for generating Poisson random variables", Insurance: Mathematics
//     and Economics 12, 39-45), which needs ~1.2 pairs of uniforms per sample
//     whatever the mean. Both are exact up to double-precision rounding of the
//     pmf (relative ~1e-15).
//   - Skellam: the difference of two independent Poisson(variance / 2)
//     variables (Agarwal, Kairouz & Liu 2021, arXiv:2110.04995, Sec. 3), so a
//     sum of independent Skellam shares is again Skellam with the summed
//     variance -- the property distributed DP under secure aggregation needs.
//   - PoissonSubsample: each of n records is included independently with
//     probability q (the sampling that the subsampled-Gaussian accountants
//     assume), drawn by geometric skips (Devroye 1986, Sec. X.2) so the cost
//     is O(q n), not O(n).
//
// Thread-safety: pure functions of their arguments and the RandomSource.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/random.h"

namespace tessera::privacy {

// log(k!) for k >= 0 (a table below 256, Stirling's series with four terms
// above, accurate to ~1e-16 relative).
double LogFactorial(int64_t k);

// One Poisson(mean) draw. Precondition: 0 <= mean <= 1e15 (finite).
int64_t SamplePoisson(double mean, RandomSource& rng);

// out[i] = Poisson(variance / 2) - Poisson(variance / 2), independently.
// Precondition: 0 <= variance <= 1e15.
void FillSkellam(double variance, RandomSource& rng, absl::Span<int64_t> out);

// The indices in [0, population) selected by independent Bernoulli(rate)
// trials, in increasing order. INVALID_ARGUMENT unless population >= 0 and
// 0 <= rate <= 1.
absl::StatusOr<std::vector<int64_t>> PoissonSubsample(int64_t population, double rate,
                                                      RandomSource& rng);

}  // namespace tessera::privacy
