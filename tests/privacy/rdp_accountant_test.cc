#include "privacy/rdp_accountant.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "privacy/numerics.h"
#include "tests/privacy/published.h"
#include "tests/privacy/statistics.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<double> IntegerOrders(int from, int to) {
  std::vector<double> orders;
  for (int a = from; a <= to; ++a) orders.push_back(a);
  return orders;
}

// log(A_alpha) straight from its definition (Mironov, Talwar & Zhang 2019,
// Sec. 3.3): A = E_{z ~ N(0, s^2)} [(1 - q + q exp((2z - 1) / (2 s^2)))^alpha],
// integrated as 1 + integral of the density times (... )^alpha - 1 with
// composite Simpson in long double. Independent of the series in the code.
double LogAByQuadrature(double q, double sigma, double alpha) {
  const long double s = sigma;
  const long double lo = -14 * s;
  const long double hi = std::max(1.0L, static_cast<long double>(alpha)) + 14 * s;
  const int intervals = 400000;
  const long double dx = (hi - lo) / intervals;
  CompensatedSum sum;
  for (int i = 0; i <= intervals; ++i) {
    const long double z = lo + dx * i;
    const long double v = (2 * z - 1) / (2 * s * s);
    const long double base = std::log1p(static_cast<long double>(q) * std::expm1(v));
    const long double log_density = -z * z / (2 * s * s) - std::log(s) - 0.918938533204672741780329736406L;
    // density * ((1 - q + q e^v)^alpha - 1), the -1 removing the bulk that integrates to 1.
    const long double value = std::exp(log_density) * std::expm1(alpha * base);
    const long double weight = (i == 0 || i == intervals) ? 1 : (i % 2 == 1 ? 4 : 2);
    sum.Add(weight * value);
  }
  return static_cast<double>(std::log1p(sum.value() * dx / 3));
}

TEST(PoissonGaussianRdpTest, MatchesPublishedValuesForZ2_5Q0_01Steps50) {
  // Google dp_accounting rdp_privacy_accountant_test.py,
  // test_compute_rdp_poisson_sampled_gaussian (z = 2.5, q = 0.01, 50 steps).
  // Order 1.5: the exact value 6.5007e-4 of the test before dp_accounting's
  // 2024 change (its current 6.70579741e-4 comes from summing |terms|).
  // Orders 2.5, 5, 50, 100: 1.08548710e-3, 2.18075656e-3, 2.38460375e-2,
  // 1.67416308e2, which that test checks with rtol 1e-4.
  const double q = 0.01, z = 2.5;
  EXPECT_NEAR(50 * PoissonGaussianRdp(q, z, 1.5), 6.5007e-4, 6.5007e-4 * 1e-4);
  EXPECT_NEAR(50 * PoissonGaussianRdp(q, z, 2.5), 1.08548710e-3, 1.08548710e-3 * 1e-4);
  // Integer orders are the exact binomial sum: all printed digits agree.
  EXPECT_NEAR(50 * PoissonGaussianRdp(q, z, 5), 2.18075656e-3, 2.18075656e-3 * 1e-8);
  EXPECT_NEAR(50 * PoissonGaussianRdp(q, z, 50), 2.38460375e-2, 2.38460375e-2 * 1e-8);
  EXPECT_NEAR(50 * PoissonGaussianRdp(q, z, 100), 1.67416308e2, 1.67416308e2 * 1e-8);
}

TEST(PoissonGaussianRdpTest, FractionalOrdersUseSignedTermsNotAbsoluteValues) {
  // The absolute-value series gives 6.70579741e-4 here (dp_accounting's
  // current test value); the signed series must stay at the exact 6.5007e-4,
  // a difference far beyond rounding.
  const double rdp = 50 * PoissonGaussianRdp(0.01, 2.5, 1.5);
  EXPECT_LT(rdp, 6.6e-4);
  EXPECT_GT(rdp, 6.50e-4);
}

struct QuadratureCase {
  double q, sigma, order;
};

TEST(PoissonGaussianRdpTest, AgreesWithTheDefiningIntegral) {
  // The (q, sigma, order) triples of dp_accounting's test_compute_log_a_equals_mp
  // that the quadrature resolves, plus slowly converging fractional cases
  // (q = 0.5, small orders) where the signed series needs thousands of terms.
  const QuadratureCase cases[] = {
      {1e-4, 1, 1.5}, {1e-3, 1, 2},     {0.01, 10, 20},   {0.1, 100, 20.5}, {0.999, 100, 256.1},
      {1e-6, 1, 27},  {0.01, 2.5, 2.5}, {0.5, 0.5, 1.1},  {0.5, 0.5, 1.01}, {0.1, 0.5, 1.05},
      {0.5, 10, 1.5}, {0.04, 1.5, 3.9}, {0.3, 0.8, 7.5}};
  for (const QuadratureCase& c : cases) {
    const double log_a = PoissonGaussianRdp(c.q, c.sigma, c.order) * (c.order - 1);
    const double expected = LogAByQuadrature(c.q, c.sigma, c.order);
    EXPECT_NEAR(log_a, expected, 1e-8 * std::fabs(expected) + 1e-15)
        << "q=" << c.q << " sigma=" << c.sigma << " order=" << c.order;
  }
}

TEST(PoissonGaussianRdpTest, SlowSeriesStillGivesAnUpperBound) {
  // With z = 1e4 and q = 1/2 the fractional series would need ~10^8 terms;
  // the accountant stops early and keeps the smaller of its bracket and the
  // next integer order, both upper bounds. Check it against the integral.
  for (double order : {1.5, 2.5}) {
    const double rdp = PoissonGaussianRdp(0.5, 1e4, order);
    const double exact = LogAByQuadrature(0.5, 1e4, order) / (order - 1);
    EXPECT_GE(rdp, exact * (1 - 1e-6)) << order;
    EXPECT_LE(rdp, PoissonGaussianRdp(0.5, 1e4, std::ceil(order))) << order;
  }
}

TEST(PoissonGaussianRdpTest, EdgeCases) {
  EXPECT_EQ(PoissonGaussianRdp(0.0, 1.0, 2.5), 0.0);
  EXPECT_EQ(PoissonGaussianRdp(0.1, 0.0, 2.5), kInf);
  // No sampling: the Gaussian mechanism's RDP alpha / (2 z^2) (Mironov 2017, Prop. 7).
  EXPECT_DOUBLE_EQ(PoissonGaussianRdp(1.0, 2.71828, 3.14159), 3.14159 / (2 * 2.71828 * 2.71828));
  // Sampling can only help, and RDP grows with the order.
  EXPECT_LT(PoissonGaussianRdp(0.5, 1.0, 4.5), 4.5 / 2.0);
  EXPECT_LT(PoissonGaussianRdp(0.1, 1.0, 3.5), PoissonGaussianRdp(0.1, 1.0, 3.6));
  EXPECT_LT(PoissonGaussianRdp(0.1, 1.0, 3), PoissonGaussianRdp(0.1, 1.0, 3.5));
}

TEST(RdpConversionTest, MatchesPublishedPureDpExample) {
  // dp_accounting test_compute_epsilon_delta_pure_dp: RDP 1.1 at orders 2..32,
  // delta 1e-5 -> epsilon 1.32783806176 at order 32 ("computed by hand").
  const std::vector<double> orders = IntegerOrders(2, 32);
  const std::vector<double> rdp(orders.size(), 1.1);
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, EpsilonFromRdp(orders, rdp, 1e-5));
  EXPECT_NEAR(eps.epsilon, 1.32783806176, 1e-10);
  EXPECT_EQ(eps.order, 32);
  ASSERT_OK_AND_ASSIGN(RdpDelta delta, DeltaFromRdp(orders, rdp, 1.32783806176));
  EXPECT_NEAR(delta.delta, 1e-5, 1e-14);
  EXPECT_EQ(delta.order, 32);
}

TEST(RdpConversionTest, MatchesPublishedGaussianCalibration) {
  // dp_accounting test_compute_epsilon_delta_gaussian: orders 1.000 ... 99.999
  // (step 0.001), no sampling, z = 4.530877117 "chosen to obtain exactly
  // (1, 1e-6)-DP" with this conversion.
  std::vector<double> orders, rdp;
  for (int i = 1001; i < 100000; ++i) {
    orders.push_back(0.001 * i);
    rdp.push_back(PoissonGaussianRdp(1.0, 4.530877117, orders.back()));
  }
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, EpsilonFromRdp(orders, rdp, 1e-6));
  EXPECT_NEAR(eps.epsilon, 1.0, 5e-8);
  ASSERT_OK_AND_ASSIGN(RdpDelta delta, DeltaFromRdp(orders, rdp, 1.0));
  EXPECT_NEAR(delta.delta, 1e-6, 5e-13);
}

TEST(RdpConversionTest, ImprovedIsNeverWorseThanClassic) {
  RdpAccountant accountant;
  ASSERT_OK(accountant.Compose(PoissonGaussianEvent{1.1, 0.01}, 1000));
  for (double delta : {1e-3, 1e-5, 1e-8, 1e-12}) {
    ASSERT_OK_AND_ASSIGN(RdpEpsilon improved, accountant.Epsilon(delta, RdpConversion::kImproved));
    ASSERT_OK_AND_ASSIGN(RdpEpsilon classic, accountant.Epsilon(delta, RdpConversion::kClassic));
    EXPECT_LE(improved.epsilon, classic.epsilon) << delta;
    // Round trip through the inverse conversion lands on the same delta.
    ASSERT_OK_AND_ASSIGN(RdpDelta back, accountant.Delta(improved.epsilon));
    EXPECT_NEAR(back.delta, delta, 1e-9 * delta) << delta;
  }
}

TEST(RdpConversionTest, RejectsBadInput) {
  const std::vector<double> orders = {2, 3};
  const std::vector<double> rdp = {0.1, 0.2};
  EXPECT_THAT(EpsilonFromRdp(orders, rdp, 0.0), StatusIs(absl::StatusCode::kInvalidArgument,
                                                         HasSubstr("delta")));
  EXPECT_THAT(EpsilonFromRdp(orders, rdp, 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EpsilonFromRdp(orders, std::vector<double>{0.1}, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(EpsilonFromRdp(std::vector<double>{1.0}, std::vector<double>{0.1}, 1e-5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("> 1")));
  EXPECT_THAT(DeltaFromRdp(orders, rdp, -1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RdpAccountant::WithOrders({0.5}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RdpConversionTest, InfiniteRdpGivesInfiniteEpsilon) {
  RdpAccountant accountant;
  ASSERT_OK(accountant.Compose(PoissonGaussianEvent{0.0, 0.5}));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, accountant.Epsilon(1e-5));
  EXPECT_EQ(eps.epsilon, kInf);
  ASSERT_OK_AND_ASSIGN(RdpDelta delta, accountant.Delta(10));
  EXPECT_EQ(delta.delta, 1.0);
}

TEST(RdpAccountantTest, MatchesOpacusPublishedEpsilon) {
  // Opacus tests/accountants_test.py test_rdp_accountant: z = 1.5, q = 0.04,
  // steps = int(90 / 0.04) = 2250, delta = 1e-5 -> 7.32911117143, with Opacus'
  // orders. Opacus' get_privacy_spent uses the improved conversion (Balle et
  // al. 2020, Thm 21); the classic one gives a clearly larger value.
  ASSERT_OK_AND_ASSIGN(RdpAccountant accountant, RdpAccountant::WithOrders(testing::OpacusOrders()));
  ASSERT_OK(accountant.Compose(PoissonGaussianEvent{1.5, 0.04}, 2250));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, accountant.Epsilon(1e-5, RdpConversion::kImproved));
  EXPECT_NEAR(eps.epsilon, 7.32911117143, 1e-9);
  ASSERT_OK_AND_ASSIGN(RdpEpsilon classic, accountant.Epsilon(1e-5, RdpConversion::kClassic));
  EXPECT_GT(classic.epsilon, 7.5);
  // The production grid contains Opacus' orders, so it can only do better.
  RdpAccountant production;
  ASSERT_OK(production.Compose(PoissonGaussianEvent{1.5, 0.04}, 2250));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon best, production.Epsilon(1e-5));
  EXPECT_LE(best.epsilon, eps.epsilon + 1e-12);
}

TEST(RdpAccountantTest, MatchesAbadiEtAlMnistMomentsAccountant) {
  // Abadi et al. 2016 (CCS), Section 3.1: q = 0.01, sigma = 4, T = 10000,
  // delta = 1e-5 gives epsilon ~ 1.26 with the moments accountant, i.e. the
  // classic conversion over integer orders (lambda = order - 1 <= 32).
  ASSERT_OK_AND_ASSIGN(RdpAccountant accountant, RdpAccountant::WithOrders(IntegerOrders(2, 33)));
  ASSERT_OK(accountant.Compose(PoissonGaussianEvent{4.0, 0.01}, 10000));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, accountant.Epsilon(1e-5, RdpConversion::kClassic));
  EXPECT_NEAR(eps.epsilon, 1.26, 0.005);
}

TEST(RdpAccountantTest, CompositionAddsCurves) {
  const PoissonGaussianEvent a{1.1, 0.02};
  const PoissonGaussianEvent b{3.0, 0.5};
  RdpAccountant once, six, mixed, ledgered;
  ASSERT_OK(once.Compose(a));
  ASSERT_OK(six.Compose(a, 6));
  ASSERT_OK(mixed.Compose(a, 2));
  ASSERT_OK(mixed.Compose(b, 3));
  PrivacyLedger ledger;
  ASSERT_OK(ledger.Add(b, 1));
  ASSERT_OK(ledger.Add(a, 2));
  ASSERT_OK(ledger.Add(b, 2));
  ASSERT_OK(ledgered.Compose(ledger));
  for (size_t i = 0; i < once.orders().size(); ++i) {
    const double order = once.orders()[i];
    EXPECT_NEAR(six.rdp()[i], 6 * once.rdp()[i], 1e-12 * six.rdp()[i]);
    const double expected = 2 * EventRdp(a, order) + 3 * EventRdp(b, order);
    EXPECT_NEAR(mixed.rdp()[i], expected, 1e-12 * expected);
    EXPECT_NEAR(ledgered.rdp()[i], expected, 1e-12 * expected);
  }
  EXPECT_THAT(once.Compose(a, -1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(once.Compose(PoissonGaussianEvent{1.0, 1.5}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampling rate")));
}

TEST(SkellamRdpTest, BoundsTheExactRenyiDivergenceOfAShiftedSkellam) {
  // Independent derivation: the Renyi divergence D_alpha(Sk + 1 || Sk) of the
  // one-dimensional Skellam mechanism with sensitivity 1, summed exactly from
  // the pmf. Agarwal, Kairouz & Liu's bound (Thm 3.5) must lie above it, and
  // be tight for large variance.
  for (double mu : {8.0, 40.0, 200.0}) {
    const int64_t k_max = static_cast<int64_t>(40 * std::sqrt(mu) + 40);
    const std::vector<double> log_pmf = testing::SkellamLogPmf(mu, k_max);
    for (int alpha : {2, 3, 5, 8, 16}) {
      double log_sum = -kInf;
      for (size_t i = 1; i < log_pmf.size(); ++i) {
        // P(x) = pmf(x - 1) (shifted), Q(x) = pmf(x).
        log_sum = LogAddExp(log_sum, alpha * log_pmf[i - 1] + (1 - alpha) * log_pmf[i]);
      }
      const double exact = log_sum / (alpha - 1);
      const double bound = SkellamRdp(SkellamEvent{1, 1, mu}, alpha);
      EXPECT_GE(bound, exact) << "mu=" << mu << " alpha=" << alpha;
      // The bound is tight once the variance is large (at mu = 8 its
      // 3 D1 / (2 mu) term dominates and it is ~3x the exact value).
      if (mu >= 40) {
        EXPECT_LT(bound - exact, 0.1 * exact + 1e-3) << "mu=" << mu << " alpha=" << alpha;
      }
    }
  }
}

TEST(SkellamRdpTest, ApproachesTheGaussianMechanismForLargeVariance) {
  // As mu grows, Skellam noise of variance mu behaves like N(0, mu) and the
  // bound tends to the Gaussian mechanism's alpha D2^2 / (2 mu) (Mironov
  // 2017, Prop. 7) -- the "Gaussian limit" check.
  const SkellamEvent event{10, 100, 1e8};
  for (int alpha : {2, 10, 100}) {
    const double gaussian = alpha * 100.0 / (2 * 1e8);
    EXPECT_NEAR(SkellamRdp(event, alpha) / gaussian, 1.0, 1e-6) << alpha;
  }
  // Only integer orders are covered by the theorem.
  EXPECT_EQ(SkellamRdp(event, 2.5), kInf);
}

TEST(SkellamRdpTest, PlugsIntoTheAccountantAtIntegerOrders) {
  RdpAccountant accountant;
  const SkellamEvent event{50, 50 * 50, 2500.0 * 4};  // noise std 2x the L2 sensitivity
  ASSERT_OK(accountant.Compose(event, 100));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, accountant.Epsilon(1e-5));
  EXPECT_EQ(eps.order, std::floor(eps.order));
  // 100 rounds of a Gaussian with z = 2 (the Skellam's limit) for comparison.
  RdpAccountant gaussian;
  ASSERT_OK(gaussian.Compose(PoissonGaussianEvent{2.0, 1.0}, 100));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon gaussian_eps, gaussian.Epsilon(1e-5));
  EXPECT_GE(eps.epsilon, gaussian_eps.epsilon);
  EXPECT_LT(eps.epsilon, gaussian_eps.epsilon * 1.01);
  EXPECT_THAT(accountant.Compose(SkellamEvent{2, 1, 10}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("L1")));
}

}  // namespace
}  // namespace tessera::privacy
