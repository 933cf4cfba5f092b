// Helpers for the statistical tests of the privacy samplers: exact pmfs and a
// chi-square goodness-of-fit test.
//
// Every test that uses them runs with a fixed seed, so it is deterministic;
// the false-failure rate it states is the probability that a correct sampler
// fails for a seed chosen at random, i.e. the significance level.
//
// Thread-safety: pure functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "privacy/numerics.h"

namespace tessera::privacy::testing {

// log P(K = k) for K ~ Poisson(mean), k >= 0.
inline double PoissonLogPmf(double mean, int64_t k) {
  const double kd = static_cast<double>(k);
  return -mean + kd * std::log(mean) - std::lgamma(kd + 1);
}

// log P(K = k) for k in [-k_max, k_max] (index k + k_max) of the symmetric
// Skellam distribution with variance `variance` (two Poisson(variance/2)),
// by direct convolution of the Poisson pmfs.
inline std::vector<double> SkellamLogPmf(double variance, int64_t k_max) {
  const double lambda = variance / 2;
  const int64_t j_max = static_cast<int64_t>(lambda + 40 * std::sqrt(lambda) + 60);
  std::vector<double> log_poisson(static_cast<size_t>(j_max + k_max + 1));
  for (size_t j = 0; j < log_poisson.size(); ++j) {
    log_poisson[j] = PoissonLogPmf(lambda, static_cast<int64_t>(j));
  }
  std::vector<double> out(static_cast<size_t>(2 * k_max + 1));
  for (int64_t k = 0; k <= k_max; ++k) {
    double acc = -kInf;
    for (int64_t j = 0; j <= j_max; ++j) {
      acc = LogAddExp(acc, log_poisson[static_cast<size_t>(j)] +
                               log_poisson[static_cast<size_t>(j + k)]);
    }
    out[static_cast<size_t>(k_max + k)] = acc;
    out[static_cast<size_t>(k_max - k)] = acc;
  }
  return out;
}

// The upper (1 - alpha) quantile of the chi-square distribution with `df`
// degrees of freedom by the Wilson-Hilferty (1931) approximation
// df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3, z the standard normal quantile.
// Supported alphas: 1e-6 (z = 4.753424) and 1e-4 (z = 3.719016).
inline double ChiSquareCritical(double df, double alpha) {
  const double z = alpha == 1e-6 ? 4.753424308822899 : 3.719016485455709;
  const double c = 2.0 / (9.0 * df);
  return df * std::pow(1 - c + z * std::sqrt(c), 3);
}

struct ChiSquareResult {
  double statistic = 0;
  double critical = 0;
  int bins = 0;
};

// Pearson's chi-square test of `counts` (value -> observations, n in total)
// against the pmf `log_pmf(value)` on the integers [lo, hi], which must hold
// all but a negligible part of the mass (observations outside count in the
// end bins). Adjacent values are merged until every bin expects at least 5
// observations (the usual validity rule).
template <typename LogPmf>
ChiSquareResult ChiSquare(const std::map<int64_t, int64_t>& counts, int64_t n, int64_t lo,
                          int64_t hi, LogPmf log_pmf, double alpha) {
  std::vector<double> expected;
  std::vector<double> observed;
  double e = 0, o = 0;
  for (int64_t k = lo; k <= hi; ++k) {
    e += static_cast<double>(n) * std::exp(log_pmf(k));
    auto it = counts.find(k);
    if (it != counts.end()) o += static_cast<double>(it->second);
    if (k == lo) {  // values below lo belong to the first bin
      for (auto i = counts.begin(); i != counts.end() && i->first < lo; ++i) {
        o += static_cast<double>(i->second);
      }
    }
    if (k == hi) {
      for (auto i = counts.upper_bound(hi); i != counts.end(); ++i) o += static_cast<double>(i->second);
    }
    if (e >= 5 || k == hi) {
      if (e < 5 && !expected.empty()) {  // fold a thin last bin into its neighbour
        expected.back() += e;
        observed.back() += o;
      } else {
        expected.push_back(e);
        observed.push_back(o);
      }
      e = o = 0;
    }
  }
  ChiSquareResult result;
  for (size_t i = 0; i < expected.size(); ++i) {
    result.statistic += (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
  }
  result.bins = static_cast<int>(expected.size());
  result.critical = ChiSquareCritical(result.bins - 1, alpha);
  return result;
}

}  // namespace tessera::privacy::testing
