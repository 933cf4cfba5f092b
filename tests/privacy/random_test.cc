#include "privacy/random.h"

#include <bitset>
#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/privacy/statistics.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

TEST(Xoshiro256StarStarTest, MatchesReferenceImplementation) {
  // rand_xoshiro (rust-random/rngs), xoshiro256starstar.rs test `reference`:
  // state {1, 2, 3, 4}, "produced with the reference implementation" of
  // Blackman & Vigna.
  Xoshiro256StarStar rng = Xoshiro256StarStar::FromState(1, 2, 3, 4);
  const uint64_t expected[] = {11520ULL,
                               0ULL,
                               1509978240ULL,
                               1215971899390074240ULL,
                               1216172134540287360ULL,
                               607988272756665600ULL,
                               16172922978634559625ULL,
                               8476171486693032832ULL,
                               10595114339597558777ULL,
                               2904607092377533576ULL};
  for (uint64_t e : expected) EXPECT_EQ(rng.NextUint64(), e);
}

TEST(SplitMix64Test, MatchesReferenceImplementation) {
  // rand_xoshiro, splitmix64.rs test `reference`: seed 1477776061723855037.
  uint64_t state = 1477776061723855037ULL;
  EXPECT_EQ(SplitMix64(state), 1985237415132408290ULL);
  EXPECT_EQ(SplitMix64(state), 2979275885539914483ULL);
  EXPECT_EQ(SplitMix64(state), 13511426838097143398ULL);
  // Steele, Lea & Flood's generator from state 0: first output 0xe220a8397b1dcdaf.
  uint64_t zero = 0;
  EXPECT_EQ(SplitMix64(zero), 0xe220a8397b1dcdafULL);
}

TEST(Xoshiro256StarStarTest, SeedingIsDeterministicAndSeedDependent) {
  Xoshiro256StarStar a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 16; ++i) {
    const uint64_t x = a.NextUint64();
    EXPECT_EQ(x, b.NextUint64());
    differs = differs || x != c.NextUint64();
  }
  EXPECT_TRUE(differs);
}

TEST(UniformTest, UniformBelowIsUniformAndInRange) {
  // Chi-square against the uniform pmf on {0..6}; false-failure rate 1e-6.
  Xoshiro256StarStar rng(7);
  std::map<int64_t, int64_t> counts;
  const int64_t n = 70000;
  for (int64_t i = 0; i < n; ++i) ++counts[static_cast<int64_t>(UniformBelow(rng, 7))];
  const auto result = testing::ChiSquare(
      counts, n, 0, 6, [](int64_t) { return std::log(1.0 / 7); }, 1e-6);
  EXPECT_LT(result.statistic, result.critical);
  EXPECT_EQ(counts.size(), 7u);
  // A bound just above 2^63 is where modulo reduction would be most biased.
  const uint64_t bound = (uint64_t{1} << 63) + 12345;
  int64_t upper_half = 0;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t x = UniformBelow(rng, bound);
    ASSERT_LT(x, bound);
    upper_half += x >= bound / 2 ? 1 : 0;
  }
  // Binomial(10000, 1/2): 6 standard deviations = 300 (false failure ~2e-9).
  EXPECT_NEAR(static_cast<double>(upper_half), 5000, 300);
}

TEST(UniformTest, Uniform01IsInUnitInterval) {
  Xoshiro256StarStar rng(11);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = Uniform01(rng);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  // Mean 1/2, standard error sqrt(1/12/1e5) ~ 9.1e-4; 6 of them (false failure ~2e-9).
  EXPECT_NEAR(sum / 100000, 0.5, 6 * 9.13e-4);
}

TEST(OsRandomSourceTest, ProducesBalancedUnpredictableBits) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OsRandomSource> a, OsRandomSource::Create());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OsRandomSource> b, OsRandomSource::Create());
  // Two sources never agree (probability 2^-64 per word), and more words than
  // one internal buffer are drawn so that refilling is exercised.
  int64_t ones = 0;
  const int words = 4096;
  for (int i = 0; i < words; ++i) {
    const uint64_t x = a->NextUint64();
    EXPECT_NE(x, b->NextUint64());
    ones += static_cast<int64_t>(std::bitset<64>(x).count());
  }
  // Binomial(262144, 1/2): standard deviation 256; 6 of them (false failure ~2e-9).
  EXPECT_NEAR(static_cast<double>(ones), words * 32.0, 6 * 256.0);
}

}  // namespace
}  // namespace tessera::privacy
