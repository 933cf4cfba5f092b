// Statistical tests use fixed seeds, so they pass or fail deterministically;
// each states the probability that it would fail for a random seed.
#include "model/random.h"

#include <cmath>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

TEST(RandomStreamTest, SeededStreamIsTheStandardMt19937_64) {
  // C++ standard [rand.predef]: the 10000th consecutive invocation of a
  // default-constructed mt19937_64 (seed 5489) produces 9981545732273789042.
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(5489);
  uint64_t word = 0;
  for (int i = 0; i < 10000; ++i) word = random->NextWord();
  EXPECT_EQ(word, 9981545732273789042ull);
  EXPECT_FALSE(random->secure());
  EXPECT_OK(random->status());
}

TEST(RandomStreamTest, SecureStreamsAreUnpredictable) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RandomStream> a, RandomStream::Secure());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RandomStream> b, RandomStream::Secure());
  EXPECT_TRUE(a->secure());
  // Two independent 64-bit words agree with probability 2^-64.
  EXPECT_NE(a->NextWord(), b->NextWord());
  // Reading past the first buffer works and keeps the status OK.
  for (int i = 0; i < 2000; ++i) a->NextGaussian();
  EXPECT_OK(a->status());
}

TEST(RandomStreamTest, UniformIsInsideTheOpenInterval) {
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(1);
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = random->NextUniform();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  // Mean of n uniforms: sd sqrt(1/12n) = 9.1e-4; 5 sd fails w.p. 5.7e-7.
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / (12.0 * n)));
}

TEST(RandomStreamTest, NextBelowIsUniform) {
  // Chi-square test with 6 - 1 = 5 degrees of freedom; the 0.9999 quantile
  // of chi2(5) is 25.74, so this fails for a random seed w.p. 1e-4.
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(2);
  const int n = 60000;
  std::vector<int> counts(6, 0);
  for (int i = 0; i < n; ++i) ++counts[random->NextBelow(6)];
  double chi2 = 0;
  for (int c : counts) chi2 += (c - n / 6.0) * (c - n / 6.0) / (n / 6.0);
  EXPECT_LT(chi2, 25.74);
}

TEST(RandomStreamTest, GaussianHasStandardMoments) {
  // n = 200000 draws: the sample mean has sd 1/sqrt(n) = 2.2e-3, the sample
  // variance sd sqrt(2/n) = 3.2e-3, the fourth moment (3) sd sqrt(96/n) =
  // 0.022. Bounds at 5 sd each: false-failure rate < 2e-6 together.
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(3);
  const int n = 200000;
  double m1 = 0, m2 = 0, m4 = 0;
  int beyond_two = 0;
  for (int i = 0; i < n; ++i) {
    const double z = random->NextGaussian();
    m1 += z;
    m2 += z * z;
    m4 += z * z * z * z;
    beyond_two += std::abs(z) > 2 ? 1 : 0;
  }
  EXPECT_NEAR(m1 / n, 0.0, 5 / std::sqrt(n));
  EXPECT_NEAR(m2 / n, 1.0, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(m4 / n, 3.0, 5 * std::sqrt(96.0 / n));
  // P(|Z| > 2) = 0.0455003 (standard normal table); binomial sd 4.7e-4.
  EXPECT_NEAR(static_cast<double>(beyond_two) / n, 0.0455003, 5 * 4.7e-4);
}

TEST(RandomStreamTest, AddGaussianNoiseScalesByStddev) {
  std::unique_ptr<RandomStream> a = RandomStream::Seeded(4);
  std::unique_ptr<RandomStream> b = RandomStream::Seeded(4);
  std::vector<float> values(100, 1.0f);
  a->AddGaussianNoise(0.25, absl::MakeSpan(values));
  for (float v : values) EXPECT_FLOAT_EQ(v, static_cast<float>(1.0 + 0.25 * b->NextGaussian()));
}

TEST(PoissonSampleTest, IncludesEachIndexIndependentlyWithRateQ) {
  // n = 200 indices, q = 0.1, 20000 trials. Each index's inclusion count is
  // Binomial(20000, 0.1): mean 2000, sd 42.4; a 5-sd band for all 200
  // indices fails w.p. 200 * 5.7e-7 = 1.2e-4. The lot size is
  // Binomial(200, 0.1) with variance 18; the sample variance over 20000
  // trials has sd 18 sqrt(2/20000) = 0.18 (5 sd: 0.9). Adjacent indices are
  // both included w.p. q^2 = 0.01: expected 39800 pairs, sd ~200 (5 sd:
  // 1000), which catches an off-by-one in the gap walk.
  const int64_t n = 200;
  const double q = 0.1;
  const int trials = 20000;
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(5);
  std::vector<int> counts(n, 0);
  std::vector<int64_t> indices;
  double size_sum = 0, size_square_sum = 0, adjacent_pairs = 0;
  for (int t = 0; t < trials; ++t) {
    PoissonSample(n, q, *random, &indices);
    std::set<int64_t> chosen(indices.begin(), indices.end());
    ASSERT_EQ(chosen.size(), indices.size());
    ASSERT_TRUE(std::is_sorted(indices.begin(), indices.end()));
    for (int64_t i : indices) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      ++counts[static_cast<size_t>(i)];
      adjacent_pairs += chosen.count(i + 1) > 0 ? 1 : 0;
    }
    size_sum += static_cast<double>(indices.size());
    size_square_sum += static_cast<double>(indices.size() * indices.size());
  }
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(counts[static_cast<size_t>(i)], 2000, 5 * 42.43) << "index " << i;
  }
  const double mean = size_sum / trials;
  EXPECT_NEAR(mean, 20.0, 5 * std::sqrt(18.0 / trials));
  EXPECT_NEAR(size_square_sum / trials - mean * mean, 18.0, 0.9);
  EXPECT_NEAR(adjacent_pairs, 0.01 * trials * (n - 1), 1000);
}

TEST(PoissonSampleTest, EdgeRates) {
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(6);
  std::vector<int64_t> indices;
  PoissonSample(5, 1.0, *random, &indices);
  EXPECT_EQ(indices, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  PoissonSample(5, 0.0, *random, &indices);
  EXPECT_TRUE(indices.empty());
  PoissonSample(0, 0.5, *random, &indices);
  EXPECT_TRUE(indices.empty());
}

TEST(RandomPermutationTest, AllSixOrdersOfThreeAreEquallyLikely) {
  // 60000 shuffles of 3 items; chi2(5) 0.9999 quantile 25.74: fails w.p. 1e-4.
  std::unique_ptr<RandomStream> random = RandomStream::Seeded(7);
  std::map<std::vector<int64_t>, int> counts;
  std::vector<int64_t> order;
  const int n = 60000;
  for (int i = 0; i < n; ++i) {
    RandomPermutation(3, *random, &order);
    ++counts[order];
  }
  ASSERT_EQ(counts.size(), 6u);
  double chi2 = 0;
  for (const auto& [permutation, c] : counts) chi2 += (c - n / 6.0) * (c - n / 6.0) / (n / 6.0);
  EXPECT_LT(chi2, 25.74);
}

}  // namespace
}  // namespace tessera::model
