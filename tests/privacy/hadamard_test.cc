#include "privacy/hadamard.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;

// Sylvester's construction (Sylvester 1867): H_1 = [1],
// H_2n = [[H_n, H_n], [H_n, -H_n]]; entry (i, j) is (-1)^popcount(i & j).
double SylvesterEntry(size_t i, size_t j) {
  return __builtin_popcountll(i & j) % 2 == 0 ? 1.0 : -1.0;
}

TEST(FastWalshHadamardTest, MatchesSylvesterMatrix) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> uniform(-1, 1);
  for (size_t n : {1u, 2u, 8u, 64u, 8192u}) {
    std::vector<double> x(n);
    for (double& v : x) v = uniform(gen);
    std::vector<double> y = x;
    FastWalshHadamard(absl::MakeSpan(y));
    // Spot-check rows (all rows for small n).
    for (size_t i = 0; i < n; i += (n > 64 ? 97 : 1)) {
      long double expected = 0;
      for (size_t j = 0; j < n; ++j) expected += SylvesterEntry(i, j) * x[j];
      ASSERT_NEAR(y[i], static_cast<double>(expected), 1e-10) << n << " " << i;
    }
  }
}

TEST(RandomizedHadamardTest, IsOrthogonalAndInvertible) {
  const int64_t d = 1000;  // padded to 1024
  ASSERT_OK_AND_ASSIGN(RandomizedHadamard rotation, RandomizedHadamard::Create(d, 12345));
  EXPECT_EQ(rotation.padded_dimension(), 1024);
  std::vector<float> x(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) x[static_cast<size_t>(i)] = static_cast<float>(std::cos(0.3 * static_cast<double>(i)));
  double norm_sq = 0;
  for (float v : x) norm_sq += static_cast<double>(v) * v;
  std::vector<double> y(1024);
  rotation.Rotate(x, 2.0, absl::MakeSpan(y));
  double rotated_sq = 0;
  for (double v : y) rotated_sq += v * v;
  EXPECT_NEAR(rotated_sq, 4 * norm_sq, 1e-9 * norm_sq);  // norm kept (times the scale)
  std::vector<float> back(static_cast<size_t>(d));
  rotation.InverseRotate(absl::MakeSpan(y), 0.5, absl::MakeSpan(back));
  for (int64_t i = 0; i < d; ++i) ASSERT_NEAR(back[static_cast<size_t>(i)], x[static_cast<size_t>(i)], 1e-6);
}

TEST(RandomizedHadamardTest, SpreadsASpikeEvenly) {
  // A one-hot vector becomes +-1/sqrt(n) everywhere: the point of rotating
  // before quantisation.
  ASSERT_OK_AND_ASSIGN(RandomizedHadamard rotation, RandomizedHadamard::Create(256, 1));
  std::vector<float> spike(256, 0.0f);
  spike[17] = 1.0f;
  std::vector<double> y(256);
  rotation.Rotate(spike, 1.0, absl::MakeSpan(y));
  for (double v : y) EXPECT_NEAR(std::fabs(v), 1.0 / 16, 1e-15);
}

TEST(RandomizedHadamardTest, SignsDependOnlyOnTheSeed) {
  std::vector<float> x(64, 1.0f);
  std::vector<double> a(64), b(64), c(64);
  ASSERT_OK_AND_ASSIGN(RandomizedHadamard r1, RandomizedHadamard::Create(64, 77));
  ASSERT_OK_AND_ASSIGN(RandomizedHadamard r2, RandomizedHadamard::Create(64, 77));
  ASSERT_OK_AND_ASSIGN(RandomizedHadamard r3, RandomizedHadamard::Create(64, 78));
  r1.Rotate(x, 1.0, absl::MakeSpan(a));
  r2.Rotate(x, 1.0, absl::MakeSpan(b));
  r3.Rotate(x, 1.0, absl::MakeSpan(c));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_THAT(RandomizedHadamard::Create(0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(PaddedDimension(1), 1);
  EXPECT_EQ(PaddedDimension(1025), 2048);
}

}  // namespace
}  // namespace tessera::privacy
