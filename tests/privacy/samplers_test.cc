#include "privacy/samplers.h"

#include <cmath>
#include <map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/privacy/statistics.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;

// All chi-square tests below use significance 1e-6: a correct sampler fails
// one of them for about one seed in a million.
constexpr double kAlpha = 1e-6;

TEST(LogFactorialTest, MatchesDirectSumsAcrossTheTableBoundary) {
  // log k! = sum_{i<=k} log i, computed here in long double.
  long double direct = 0;
  for (int64_t k = 1; k <= 5000; ++k) {
    direct += std::log(static_cast<long double>(k));
    ASSERT_NEAR(LogFactorial(k), static_cast<double>(direct), 2e-15 * static_cast<double>(direct))
        << k;
  }
  EXPECT_EQ(LogFactorial(0), 0.0);
}

class PoissonSamplerTest : public ::testing::TestWithParam<double> {};

TEST_P(PoissonSamplerTest, MatchesThePoissonPmf) {
  const double mean = GetParam();
  Xoshiro256StarStar rng(static_cast<uint64_t>(mean * 1000) + 1);
  std::map<int64_t, int64_t> counts;
  const int64_t n = 200000;
  for (int64_t i = 0; i < n; ++i) ++counts[SamplePoisson(mean, rng)];
  const double sd = std::sqrt(mean);
  const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(mean - 12 * sd - 5));
  const int64_t hi = static_cast<int64_t>(mean + 12 * sd + 15);
  const auto result = testing::ChiSquare(
      counts, n, lo, hi, [mean](int64_t k) { return testing::PoissonLogPmf(mean, k); }, kAlpha);
  EXPECT_LT(result.statistic, result.critical) << "mean " << mean << ", " << result.bins << " bins";
  EXPECT_GE(counts.begin()->first, 0);
}

// Inversion below 10, PTRS from 10 on (including right at the switch), and
// a large mean as used for noise shares.
INSTANTIATE_TEST_SUITE_P(Means, PoissonSamplerTest,
                         ::testing::Values(0.05, 0.7, 3.2, 9.99, 10.0, 37.3, 2500.0, 1e6));

TEST(SkellamSamplerTest, MatchesTheSkellamPmf) {
  for (double variance : {1.0, 60.0, 5000.0}) {
    Xoshiro256StarStar rng(static_cast<uint64_t>(variance) + 17);
    const int64_t n = 200000;
    std::vector<int64_t> samples(static_cast<size_t>(n));
    FillSkellam(variance, rng, absl::MakeSpan(samples));
    std::map<int64_t, int64_t> counts;
    for (int64_t s : samples) ++counts[s];
    const int64_t k_max = static_cast<int64_t>(12 * std::sqrt(variance) + 12);
    const std::vector<double> log_pmf = testing::SkellamLogPmf(variance, k_max);
    const auto result = testing::ChiSquare(
        counts, n, -k_max, k_max,
        [&](int64_t k) { return log_pmf[static_cast<size_t>(k + k_max)]; }, kAlpha);
    EXPECT_LT(result.statistic, result.critical) << "variance " << variance;
  }
}

TEST(SkellamSamplerTest, ZeroVarianceIsZero) {
  Xoshiro256StarStar rng(1);
  std::vector<int64_t> samples(100, 7);
  FillSkellam(0.0, rng, absl::MakeSpan(samples));
  for (int64_t s : samples) EXPECT_EQ(s, 0);
}

TEST(PoissonSubsampleTest, SampleSizeIsBinomial) {
  const int64_t population = 200;
  const double rate = 0.1;
  Xoshiro256StarStar rng(99);
  std::map<int64_t, int64_t> sizes;
  const int64_t trials = 50000;
  for (int64_t t = 0; t < trials; ++t) {
    ASSERT_OK_AND_ASSIGN(std::vector<int64_t> selected, PoissonSubsample(population, rate, rng));
    for (size_t i = 1; i < selected.size(); ++i) ASSERT_LT(selected[i - 1], selected[i]);
    if (!selected.empty()) {
      ASSERT_GE(selected.front(), 0);
      ASSERT_LT(selected.back(), population);
    }
    ++sizes[static_cast<int64_t>(selected.size())];
  }
  auto binomial = [&](int64_t k) {
    const double kd = static_cast<double>(k);
    const double nd = static_cast<double>(population);
    return std::lgamma(nd + 1) - std::lgamma(kd + 1) - std::lgamma(nd - kd + 1) +
           kd * std::log(rate) + (nd - kd) * std::log1p(-rate);
  };
  const auto result = testing::ChiSquare(sizes, trials, 0, population, binomial, kAlpha);
  EXPECT_LT(result.statistic, result.critical);
}

TEST(PoissonSubsampleTest, EachRecordIsIncludedIndependentlyWithTheRate) {
  // Counts per index are Binomial(trials, q); their standardised squares sum
  // to ~chi-square(population). Adjacent pairs test independence: the
  // expected number of (i, i+1) both selected is trials (population - 1) q^2.
  const int64_t population = 100;
  const double rate = 0.3;
  const int64_t trials = 20000;
  Xoshiro256StarStar rng(2024);
  std::vector<int64_t> hits(static_cast<size_t>(population), 0);
  int64_t adjacent = 0;
  for (int64_t t = 0; t < trials; ++t) {
    ASSERT_OK_AND_ASSIGN(std::vector<int64_t> selected, PoissonSubsample(population, rate, rng));
    for (size_t i = 0; i < selected.size(); ++i) {
      ++hits[static_cast<size_t>(selected[i])];
      if (i > 0 && selected[i] == selected[i - 1] + 1) ++adjacent;
    }
  }
  const double expected = static_cast<double>(trials) * rate;
  const double variance = expected * (1 - rate);
  double statistic = 0;
  for (int64_t h : hits) {
    const double deviation = static_cast<double>(h) - expected;
    statistic += deviation * deviation / variance;
  }
  EXPECT_LT(statistic, testing::ChiSquareCritical(static_cast<double>(population), kAlpha));
  // The adjacency count is a sum of weakly dependent indicators; its variance
  // is below trials (n-1) q^2 (1 + 2q); 6 standard deviations (~2e-9).
  const double pairs_mean = static_cast<double>(trials * (population - 1)) * rate * rate;
  const double pairs_sd = std::sqrt(pairs_mean * (1 + 2 * rate));
  EXPECT_NEAR(static_cast<double>(adjacent), pairs_mean, 6 * pairs_sd);
}

TEST(PoissonSubsampleTest, EdgeCasesAndErrors) {
  Xoshiro256StarStar rng(5);
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> all, PoissonSubsample(5, 1.0, rng));
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> none, PoissonSubsample(5, 0.0, rng));
  EXPECT_TRUE(none.empty());
  EXPECT_THAT(PoissonSubsample(5, 1.5, rng), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PoissonSubsample(-1, 0.5, rng), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::privacy
