#include "privacy/calibration.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "privacy/rdp_accountant.h"
#include "tests/privacy/published.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<double> OpacusRdpEpsilon(double z, double q, int64_t steps, double delta) {
  absl::StatusOr<RdpAccountant> accountant = RdpAccountant::WithOrders(testing::OpacusOrders());
  if (!accountant.ok()) return accountant.status();
  if (absl::Status s = accountant->Compose(PoissonGaussianEvent{z, q}, steps); !s.ok()) return s;
  absl::StatusOr<RdpEpsilon> eps = accountant->Epsilon(delta);
  if (!eps.ok()) return eps.status();
  return eps->epsilon;
}

TEST(CalibrationTest, ReproducesOpacusNoiseMultiplier) {
  // Opacus tests/accountants_test.py test_get_noise_multiplier_rdp_epochs:
  // target eps 8, delta 1e-5, q 0.04, 90 epochs (2250 steps) -> 1.416.
  // Opacus bisects [0, 20] and stops at the first sigma whose epsilon is within
  // 0.01 below the target; that sigma is 1.416015625, so its epsilon must lie
  // in (7.99, 8], and the exact smallest sigma lies just below it.
  ASSERT_OK_AND_ASSIGN(double at_opacus, OpacusRdpEpsilon(1.416015625, 0.04, 2250, 1e-5));
  EXPECT_GT(at_opacus, 7.99);
  EXPECT_LE(at_opacus, 8.0);
  auto eps_of = [](double noise) { return OpacusRdpEpsilon(noise, 0.04, 2250, 1e-5); };
  ASSERT_OK_AND_ASSIGN(double z, SmallestSufficient(eps_of, 8.0, 1e-9));
  EXPECT_NEAR(z, 1.416, 0.002);
  EXPECT_LE(z, 1.416015625);
  // The same for Opacus' 2000-step case (test_get_noise_multiplier_rdp_steps: 1.3562).
  auto eps_2000 = [](double noise) { return OpacusRdpEpsilon(noise, 0.04, 2000, 1e-5); };
  ASSERT_OK_AND_ASSIGN(double z_2000, SmallestSufficient(eps_2000, 8.0, 1e-9));
  EXPECT_NEAR(z_2000, 1.3562, 0.002);
}

TEST(CalibrationTest, ReturnsTheSmallestSufficientNoise) {
  ASSERT_OK_AND_ASSIGN(NoiseCalibration rdp,
                       SmallestNoiseMultiplier(AccountantKind::kRdp, 8.0, 1e-5, 0.04, 2250));
  EXPECT_LE(rdp.epsilon, 8.0);
  EXPECT_LE(rdp.noise_multiplier, 1.416015625);  // the production grid is finer than Opacus'
  ASSERT_OK_AND_ASSIGN(EpsilonReport below,
                       ComputeEpsilon(AccountantKind::kRdp,
                                      {rdp.noise_multiplier * (1 - 1e-6), 0.04, 2250}, 1e-5));
  EXPECT_GT(below.epsilon, 8.0);

  ASSERT_OK_AND_ASSIGN(NoiseCalibration pld,
                       SmallestNoiseMultiplier(AccountantKind::kPld, 8.0, 1e-5, 0.04, 2250));
  EXPECT_LE(pld.epsilon, 8.0);
  EXPECT_LT(pld.noise_multiplier, rdp.noise_multiplier);
  ASSERT_OK_AND_ASSIGN(EpsilonReport pld_below,
                       ComputeEpsilon(AccountantKind::kPld,
                                      {pld.noise_multiplier * (1 - 1e-4), 0.04, 2250}, 1e-5));
  EXPECT_GT(pld_below.epsilon, 8.0);
}

TEST(CalibrationTest, RejectsBadInputAndUnreachableTargets) {
  EXPECT_THAT(SmallestNoiseMultiplier(AccountantKind::kRdp, 0.0, 1e-5, 0.04, 100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon")));
  EXPECT_THAT(SmallestNoiseMultiplier(AccountantKind::kRdp, 1.0, 1e-5, 0.0, 100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampling rate")));
  EXPECT_THAT(SmallestNoiseMultiplier(AccountantKind::kRdp, 1.0, 1e-5, 0.5, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("steps")));
  auto never = [](double) -> absl::StatusOr<double> { return 1e9; };
  EXPECT_THAT(SmallestSufficient(never, 1.0, 1e-6), StatusIs(absl::StatusCode::kOutOfRange));
  auto broken = [](double) -> absl::StatusOr<double> { return absl::InternalError("boom"); };
  EXPECT_THAT(SmallestSufficient(broken, 1.0, 1e-6), StatusIs(absl::StatusCode::kInternal));
}

TEST(CalibrationTest, ParsesAccountantNames) {
  ASSERT_OK_AND_ASSIGN(AccountantKind rdp, ParseAccountantKind("rdp"));
  EXPECT_EQ(rdp, AccountantKind::kRdp);
  ASSERT_OK_AND_ASSIGN(AccountantKind pld, ParseAccountantKind("pld"));
  EXPECT_EQ(AccountantKindName(pld), "pld");
  EXPECT_THAT(ParseAccountantKind("gdp"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rdp or pld")));
}

}  // namespace
}  // namespace tessera::privacy
