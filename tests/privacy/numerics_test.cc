#include "privacy/numerics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace tessera::privacy {
namespace {

// Values of the Gaussian Q-function Q(y) = P(N(0,1) > y) as tabulated for the
// standard normal distribution: Q(1.959963984540054) = 0.025 (the two-sided
// 95% point), Q(5) = 2.866515718791939e-7 (the "five sigma" tail), and the
// far-tail values Q(10) = 7.619853024160526e-24, Q(20) = 2.753624118606234e-89,
// Q(40) = 3.65589354091503e-350, Q(100) = 1.344179076744198e-2174. Every digit
// was cross-checked at 30 significant digits with mpmath.erfc.
struct TailCase {
  double y;
  long double mantissa;
  int exponent10;
};

TEST(NormalTailTest, MatchesTabulatedQFunctionValues) {
  const TailCase cases[] = {{1.959963984540054, 2.5L, -2},         {5, 2.866515718791939L, -7},
                            {10, 7.619853024160526L, -24},         {20, 2.753624118606234L, -89},
                            {40, 3.65589354091503L, -350},          {100, 1.344179076744198L, -2174}};
  for (const TailCase& c : cases) {
    const long double expected_log = std::log(c.mantissa) + c.exponent10 * std::log(10.0L);
    EXPECT_NEAR(static_cast<double>(LogNormalTail(c.y)), static_cast<double>(expected_log),
                1e-13 * std::fabs(static_cast<double>(expected_log)) + 1e-14)
        << "y = " << c.y;
    // The scaled form stays O(log y) where the plain tail would underflow.
    EXPECT_NEAR(static_cast<double>(LogScaledNormalTail(c.y)),
                static_cast<double>(expected_log + 0.5L * c.y * c.y), 1e-9)
        << "y = " << c.y;
  }
}

TEST(NormalTailTest, LowerHalfIsOneMinusUpperTail) {
  // Phi_c(-y) = 1 - Phi_c(y).
  for (double y : {0.0, 0.3, 1.0, 2.5, 6.0}) {
    EXPECT_NEAR(std::exp(static_cast<double>(LogNormalTail(-y))),
                1.0 - std::exp(static_cast<double>(LogNormalTail(y))), 1e-15);
  }
  EXPECT_NEAR(static_cast<double>(LogNormalTail(0)), std::log(0.5), 1e-16);
}

TEST(NormalMassTest, SmallTailIntervalsKeepRelativePrecision) {
  // P(10 < Z <= 20) = Q(10) - Q(20) ~= Q(10): a naive 1 - Phi difference would be 0.
  EXPECT_NEAR(static_cast<double>(NormalMass(10, 20) / 7.619853024160526e-24L), 1.0, 1e-13);
  EXPECT_NEAR(static_cast<double>(NormalMass(-20, -10) / 7.619853024160526e-24L), 1.0, 1e-13);
  // P(-1.959963984540054 < Z <= 1.959963984540054) = 0.95.
  EXPECT_NEAR(static_cast<double>(NormalMass(-1.959963984540054L, 1.959963984540054L)), 0.95,
              1e-15);
  EXPECT_EQ(NormalMass(1, 1), 0);
  EXPECT_NEAR(static_cast<double>(NormalMass(-INFINITY, INFINITY)), 1.0, 1e-18);
}

TEST(LogAddExpTest, HandlesZeroAndLargeArguments) {
  EXPECT_DOUBLE_EQ(LogAddExp(-kInf, 3.0), 3.0);
  EXPECT_DOUBLE_EQ(LogAddExp(1000.0, 1000.0), 1000.0 + std::log(2.0));
  EXPECT_NEAR(LogAddExp(std::log(2.0), std::log(3.0)), std::log(5.0), 1e-15);
}

TEST(CompensatedSumTest, RecoversSmallTermsNextToLargeOnes) {
  // 1 + 1e-20 * 10^4 - 1 = 1e-16: lost entirely by plain long double summation.
  CompensatedSum sum;
  sum.Add(1.0L);
  for (int i = 0; i < 10000; ++i) sum.Add(1e-20L);
  sum.Add(-1.0L);
  EXPECT_NEAR(static_cast<double>(sum.value()), 1e-16, 1e-28);
}

}  // namespace
}  // namespace tessera::privacy
