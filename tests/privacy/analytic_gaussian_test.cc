#include "privacy/analytic_gaussian.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;

// The mu-GDP to (eps, delta) conversion of Dong, Roth & Su (2019, Cor. 2.13)
// is Balle & Wang's curve with noise multiplier 1/mu; Opacus' GDP accountant
// uses it on the CLT estimate mu = q sqrt(T (e^{1/z^2} - 1)) (Bu et al. 2019).
double OpacusGdpEpsilon(double z, double q, int64_t steps, double delta) {
  const double mu = q * std::sqrt(static_cast<double>(steps) * (std::exp(1 / (z * z)) - 1));
  return GaussianEpsilon(1 / mu, delta).value();
}

TEST(AnalyticGaussianTest, ReproducesOpacusGdpAccountantValues) {
  // Opacus tests/accountants_test.py test_gdp_accountant: z = 1.5, q = 0.04,
  // steps = int(90 // 0.04) = 2249, delta = 1e-5 -> 6.59 < eps < 6.6.
  const double eps = OpacusGdpEpsilon(1.5, 0.04, 2249, 1e-5);
  EXPECT_GT(eps, 6.59);
  EXPECT_LT(eps, 6.6);
  // test_get_noise_multiplier_gdp: target 8 -> 1.3232421875, where Opacus'
  // bisection stops once epsilon is within 0.01 below the target.
  const double at_calibrated = OpacusGdpEpsilon(1.3232421875, 0.04, 2250, 1e-5);
  EXPECT_GT(at_calibrated, 7.99);
  EXPECT_LE(at_calibrated, 8.0);
}

TEST(AnalyticGaussianTest, IsBelowThePublishedRdpBound) {
  // dp_accounting test_compute_epsilon_delta_gaussian: with z = 4.530877117
  // the RDP conversion gives exactly (1, 1e-6). RDP is an upper bound, so the
  // exact curve must give a smaller epsilon (and a smaller delta at eps = 1).
  ASSERT_OK_AND_ASSIGN(double eps, GaussianEpsilon(4.530877117, 1e-6));
  EXPECT_LT(eps, 1.0);
  EXPECT_GT(eps, 0.8);
  EXPECT_LT(GaussianDelta(4.530877117, 1.0), 1e-6);
}

TEST(AnalyticGaussianTest, AgreesWithTheTheoremWhereNaiveEvaluationIsAccurate) {
  // Balle & Wang 2018, Thm 8, evaluated directly with erfc (accurate while
  // delta is not tiny): Phi(1/(2z) - eps z) - e^eps Phi(-1/(2z) - eps z).
  auto phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  for (double z : {0.5, 1.0, 3.0}) {
    for (double eps : {0.0, 0.1, 1.0, 2.0}) {
      const double naive = phi(0.5 / z - eps * z) - std::exp(eps) * phi(-0.5 / z - eps * z);
      EXPECT_NEAR(GaussianDelta(z, eps), naive, 1e-13) << z << " " << eps;
    }
  }
}

TEST(AnalyticGaussianTest, DeltaStaysAccurateInTheFarTail) {
  // For large eps, delta ~ Phi_c(y)(1 - ...) with y = eps z - 1/(2z); it must
  // stay positive and decreasing where the naive difference is 0 - 0.
  // (Up to eps = 35 with z = 1 delta is still a normal double, > 1e-300.)
  double previous = 1;
  for (double eps = 5; eps <= 35; eps += 5) {
    const double delta = GaussianDelta(1.0, eps);
    EXPECT_GT(delta, 0) << eps;
    EXPECT_LT(delta, previous) << eps;
    previous = delta;
  }
  // And GaussianEpsilon inverts it.
  ASSERT_OK_AND_ASSIGN(double eps, GaussianEpsilon(1.0, GaussianDelta(1.0, 30)));
  EXPECT_NEAR(eps, 30, 1e-9);
}

TEST(AnalyticGaussianTest, CompositionIsOneGaussianWithScaledNoise) {
  EXPECT_DOUBLE_EQ(ComposedGaussianNoiseMultiplier(2.0, 4), 1.0);
  EXPECT_DOUBLE_EQ(ComposedGaussianNoiseMultiplier(3.0, 1), 3.0);
}

TEST(AnalyticGaussianTest, RejectsBadInput) {
  EXPECT_THAT(GaussianEpsilon(0.0, 1e-5), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(GaussianEpsilon(1.0, 0.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(GaussianEpsilon(1.0, 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  // A huge delta needs no epsilon at all.
  ASSERT_OK_AND_ASSIGN(double eps, GaussianEpsilon(1.0, 0.9));
  EXPECT_EQ(eps, 0.0);
}

}  // namespace
}  // namespace tessera::privacy
