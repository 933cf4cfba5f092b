// Statistical tests use fixed seeds, so they pass or fail deterministically;
// each states the probability that it would fail for a random seed.
#include "model/random.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "gtest/gtest.h"
#include "privacy/random.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

TEST(GaussianTest, HasStandardMoments) {
  // n = 200000 draws: the sample mean has sd 1/sqrt(n) = 2.2e-3, the sample
  // variance sd sqrt(2/n) = 3.2e-3, the fourth moment (3) sd sqrt(96/n) =
  // 0.022. Bounds at 5 sd each: false-failure rate < 2e-6 together.
  privacy::Xoshiro256StarStar random(3);
  const int n = 200000;
  double m1 = 0, m2 = 0, m4 = 0;
  int beyond_two = 0;
  for (int i = 0; i < n; ++i) {
    const double z = SampleGaussian(random);
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

TEST(GaussianTest, FollowsTheNormalDistribution) {
  // Chi-square goodness of fit against the normal CDF (Phi(x) =
  // erfc(-x / sqrt 2) / 2) on 34 bins: edges every 0.25 from -4 to 4 plus
  // the two tails, so the ziggurat's rectangles, wedges and its tail beyond
  // r = 3.654 are all exercised. 33 degrees of freedom; the 0.9999 quantile
  // of chi2(33) is 72.03, so this fails for a random seed w.p. 1e-4.
  privacy::Xoshiro256StarStar random(8);
  const int n = 400000;
  std::vector<double> edges = {-INFINITY};
  for (int k = -16; k <= 16; ++k) edges.push_back(0.25 * k);
  edges.push_back(INFINITY);
  std::vector<int> counts(edges.size() - 1, 0);
  for (int i = 0; i < n; ++i) {
    const double z = SampleGaussian(random);
    const auto bin = std::upper_bound(edges.begin(), edges.end(), z) - edges.begin() - 1;
    ++counts[static_cast<size_t>(bin)];
  }
  const auto phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  double chi2 = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    const double expected = n * (phi(edges[b + 1]) - phi(edges[b]));
    chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
  }
  EXPECT_LT(chi2, 72.03);
}

TEST(GaussianTest, NoiseIsScaledBySdAndRepeatsWithTheSeed) {
  privacy::Xoshiro256StarStar a(4);
  privacy::Xoshiro256StarStar b(4);
  std::vector<float> values(100, 1.0f);
  AddGaussianNoise(0.25, a, absl::MakeSpan(values));
  for (float v : values) EXPECT_FLOAT_EQ(v, static_cast<float>(1.0 + 0.25 * SampleGaussian(b)));
  EXPECT_NE(values[0], values[1]);
}

TEST(CsprngSourceTest, IsUnpredictableAcrossInstancesAndBuffers) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CsprngSource> a, CsprngSource::Create());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<CsprngSource> b, CsprngSource::Create());
  // Two independent 64-bit words agree with probability 2^-64.
  EXPECT_NE(a->NextUint64(), b->NextUint64());
  // Across several 4096-word refills the words keep changing and look
  // uniform: the mean of 20000 top bits is 1/2 with sd 0.0035 (5 sd: fails
  // w.p. 5.7e-7).
  uint64_t previous = a->NextUint64();
  int repeats = 0;
  double top_bits = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t word = a->NextUint64();
    repeats += word == previous ? 1 : 0;
    top_bits += static_cast<double>(word >> 63);
    previous = word;
  }
  EXPECT_EQ(repeats, 0);
  EXPECT_NEAR(top_bits / 20000, 0.5, 5 * 0.0035);
}

TEST(RandomPermutationTest, AllSixOrdersOfThreeAreEquallyLikely) {
  // 60000 shuffles of 3 items; chi2(5) 0.9999 quantile 25.74: fails w.p. 1e-4.
  privacy::Xoshiro256StarStar random(7);
  std::map<std::vector<int64_t>, int> counts;
  std::vector<int64_t> order;
  const int n = 60000;
  for (int i = 0; i < n; ++i) {
    RandomPermutation(3, random, &order);
    ++counts[order];
  }
  ASSERT_EQ(counts.size(), 6u);
  double chi2 = 0;
  for (const auto& [permutation, c] : counts) chi2 += (c - n / 6.0) * (c - n / 6.0) / (n / 6.0);
  EXPECT_LT(chi2, 25.74);
}

TEST(RandomPermutationTest, IsAPermutation) {
  privacy::Xoshiro256StarStar random(9);
  std::vector<int64_t> order;
  RandomPermutation(1000, random, &order);
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
  EXPECT_NE(order, sorted);  // 1/1000! chance of the identity
}

}  // namespace
}  // namespace tessera::model
