#include "privacy/samplers.h"

#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::privacy {
namespace {

constexpr int kFactorialTableSize = 256;
constexpr double kHalfLog2Pi = 0.91893853320467274178;  // log(sqrt(2 pi))

const std::array<double, kFactorialTableSize>& LogFactorialTable() {
  static const std::array<double, kFactorialTableSize> table = [] {
    std::array<double, kFactorialTableSize> t{};
    long double acc = 0;
    for (int k = 1; k < kFactorialTableSize; ++k) {
      acc += std::log(static_cast<long double>(k));
      t[static_cast<size_t>(k)] = static_cast<double>(acc);
    }
    return t;
  }();
  return table;
}

// Inversion by sequential search from 0; fine for small means (expected
// mean + 1 steps).
int64_t PoissonByInversion(double mean, RandomSource& rng) {
  const double u = Uniform01(rng);
  double p = std::exp(-mean);
  double cumulative = p;
  int64_t k = 0;
  // The 1000-step cap only matters if rounding left the cumulative sum just
  // below u; mass beyond it is below 1e-300 for mean < 10.
  while (u >= cumulative && k < 1000) {
    ++k;
    p *= mean / static_cast<double>(k);
    cumulative += p;
  }
  return k;
}

// PTRS, Hormann (1993), Section 3, for mean >= 10.
int64_t PoissonByPtrs(double mean, RandomSource& rng) {
  const double log_mean = std::log(mean);
  const double b = 0.931 + 2.53 * std::sqrt(mean);
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double v_r = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const double u = Uniform01(rng) - 0.5;
    const double v = Uniform01(rng);
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= v_r) return static_cast<int64_t>(k);
    if (k < 0 || (us < 0.013 && v > us)) continue;
    const int64_t ki = static_cast<int64_t>(k);
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -mean + k * log_mean - LogFactorial(ki)) {
      return ki;
    }
  }
}

}  // namespace

double LogFactorial(int64_t k) {
  if (k < kFactorialTableSize) return LogFactorialTable()[static_cast<size_t>(k)];
  // Stirling: log k! = (k + 1/2) log k - k + log sqrt(2 pi) + 1/(12k) - 1/(360k^3) + 1/(1260k^5).
  const double x = static_cast<double>(k);
  const double inv = 1 / x;
  const double inv2 = inv * inv;
  return (x + 0.5) * std::log(x) - x + kHalfLog2Pi +
         inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 / 1260));
}

int64_t SamplePoisson(double mean, RandomSource& rng) {
  if (mean <= 0) return 0;
  return mean < 10 ? PoissonByInversion(mean, rng) : PoissonByPtrs(mean, rng);
}

void FillSkellam(double variance, RandomSource& rng, absl::Span<int64_t> out) {
  const double mean = variance / 2;
  for (int64_t& value : out) value = SamplePoisson(mean, rng) - SamplePoisson(mean, rng);
}

absl::StatusOr<std::vector<int64_t>> PoissonSubsample(int64_t population, double rate,
                                                      RandomSource& rng) {
  if (population < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("population must be >= 0, got ", population));
  }
  if (!(rate >= 0 && rate <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling rate must be in [0, 1], got ", rate));
  }
  std::vector<int64_t> selected;
  if (rate == 0 || population == 0) return selected;
  if (rate == 1) {
    selected.resize(static_cast<size_t>(population));
    for (int64_t i = 0; i < population; ++i) selected[static_cast<size_t>(i)] = i;
    return selected;
  }
  selected.reserve(static_cast<size_t>(static_cast<double>(population) * rate * 1.1) + 16);
  // The gap before the next selected index is Geometric(rate):
  // floor(log(U) / log(1 - rate)) with U uniform in (0, 1].
  const double log_keep = std::log1p(-rate);
  int64_t index = -1;
  for (;;) {
    const double u = 1.0 - Uniform01(rng);  // in (0, 1]
    const double gap = std::floor(std::log(u) / log_keep);
    if (gap >= static_cast<double>(population - index - 1)) break;
    index += static_cast<int64_t>(gap) + 1;
    selected.push_back(index);
  }
  return selected;
}

}  // namespace tessera::privacy
