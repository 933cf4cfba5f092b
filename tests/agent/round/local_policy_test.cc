// A trust's local policy: each rule refuses with its own reason, and the
// budget counts every round already spent on the dataset.
#include "agent/round/local_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::agent {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

const std::string kModel(64, 'a');

// One round of DP-SGD: `steps` Poisson-subsampled Gaussian steps.
RoundPrivacy RecordRound(double noise, double rate, int64_t steps) {
  RoundPrivacy round;
  round.dataset = "diabetes";
  round.model_sha256 = kModel;
  round.approved_by_federation = true;
  round.kind = PrivacyKind::kRecord;
  round.noise_multiplier = noise;
  round.clip_norm = 1.0;
  EXPECT_OK(round.events.Add(privacy::PoissonGaussianEvent{noise, rate}, steps));
  return round;
}

TEST(LocalPolicyTest, ModelMustBeApproved) {
  LocalPolicy policy;
  RoundPrivacy round = RecordRound(1.1, 0.01, 100);
  round.approved_by_federation = false;
  ASSERT_OK_AND_ASSIGN(PolicyDecision decision, CheckRound(policy, {}, round));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kModelNotApproved);
  EXPECT_THAT(decision.reason, HasSubstr("no approval from the federation's governance"));

  // A trust with its own list ignores the federation's approval.
  policy.approved_models = {std::string(64, 'b')};
  round.approved_by_federation = true;
  ASSERT_OK_AND_ASSIGN(decision, CheckRound(policy, {}, round));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kModelNotApproved);
  EXPECT_THAT(decision.reason, HasSubstr("not in this trust's approved_models"));
  policy.approved_models.push_back(kModel);
  ASSERT_OK_AND_ASSIGN(decision, CheckRound(policy, {}, round));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kAllowed);
}

TEST(LocalPolicyTest, NonPrivateJobsNeedExplicitConsent) {
  LocalPolicy policy;
  RoundPrivacy round;
  round.model_sha256 = kModel;
  round.approved_by_federation = true;
  round.kind = PrivacyKind::kNone;
  ASSERT_OK_AND_ASSIGN(PolicyDecision decision, CheckRound(policy, {}, round));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kPrivacyTooWeak);
  EXPECT_THAT(decision.reason, HasSubstr("allow_non_private"));
  policy.allow_non_private = true;
  ASSERT_OK_AND_ASSIGN(decision, CheckRound(policy, {}, round));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kAllowed);
}

TEST(LocalPolicyTest, WeakNoiseOrLargeClipIsRefused) {
  LocalPolicy policy;
  policy.min_noise_multiplier = 0.8;
  policy.max_clip_norm = 2.0;
  ASSERT_OK_AND_ASSIGN(PolicyDecision decision, CheckRound(policy, {}, RecordRound(0.7, 0.01, 10)));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kPrivacyTooWeak);
  EXPECT_THAT(decision.reason, HasSubstr("noise multiplier 0.7 is below this trust's minimum of 0.8"));
  RoundPrivacy wide = RecordRound(1.0, 0.01, 10);
  wide.clip_norm = 3.0;
  ASSERT_OK_AND_ASSIGN(decision, CheckRound(policy, {}, wide));
  EXPECT_EQ(decision.verdict, PolicyVerdict::kPrivacyTooWeak);
  EXPECT_THAT(decision.reason, HasSubstr("clip norm 3 is above this trust's maximum of 2"));
}

TEST(LocalPolicyTest, BudgetCountsEverythingAlreadySpent) {
  const RoundPrivacy round = RecordRound(1.1, 0.01, 500);
  ASSERT_OK_AND_ASSIGN(double one_round, EpsilonOf(round.events, 1e-5));
  privacy::PrivacyLedger two_rounds = round.events;
  ASSERT_OK(two_rounds.Add(privacy::PoissonGaussianEvent{1.1, 0.01}, 500));
  ASSERT_OK_AND_ASSIGN(double both, EpsilonOf(two_rounds, 1e-5));
  // Composition costs more than one round but less than twice (RDP).
  ASSERT_GT(both, one_round);
  ASSERT_LT(both, 2 * one_round);

  LocalPolicy policy;
  policy.delta = 1e-5;
  policy.max_epsilon = (one_round + both) / 2;  // room for one round, not two
  ASSERT_OK_AND_ASSIGN(PolicyDecision first, CheckRound(policy, {}, round));
  EXPECT_EQ(first.verdict, PolicyVerdict::kAllowed);
  EXPECT_EQ(first.epsilon_before, 0);
  EXPECT_DOUBLE_EQ(first.epsilon_after, one_round);

  ASSERT_OK_AND_ASSIGN(PolicyDecision second, CheckRound(policy, round.events, round));
  EXPECT_EQ(second.verdict, PolicyVerdict::kBudgetExceeded);
  EXPECT_DOUBLE_EQ(second.epsilon_before, one_round);
  EXPECT_DOUBLE_EQ(second.epsilon_after, both);
  EXPECT_THAT(second.reason, HasSubstr("past this trust's limit"));
  EXPECT_THAT(second.reason, HasSubstr("`diabetes`"));
}

TEST(LocalPolicyTest, ParsesAndChecksTheTable) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(
                                                "[policy]\nmax_epsilon = 2.5\n"
                                                "min_noise_multiplier = 0.9\n"
                                                "approved_models = [\"" + std::string(64, 'A') + "\"]\n",
                                                "agent.toml"));
  LocalPolicy policy = ParseLocalPolicy(reader, "policy");
  ASSERT_OK(reader.Finish());
  EXPECT_EQ(policy.max_epsilon, 2.5);
  EXPECT_EQ(policy.min_noise_multiplier, 0.9);
  EXPECT_FALSE(policy.allow_non_private);
  ASSERT_EQ(policy.approved_models.size(), 1u);
  EXPECT_EQ(policy.approved_models[0], std::string(64, 'a'));  // normalised

  ASSERT_OK_AND_ASSIGN(ConfigReader bad, ConfigReader::FromString(
                                             "[policy]\napproved_models = [\"model.pt\"]\n"
                                             "max_epsilon = -1\n",
                                             "agent.toml"));
  ParseLocalPolicy(bad, "policy");
  absl::Status status = bad.Finish();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sha256sum")));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy.max_epsilon")));
}

// Rounds and attempts only move forward (the coordinator reserves each
// attempt number durably before any site hears of it), so a task that is not
// after every attempt already done is a replay.
TEST(LocalPolicyTest, ReplayedTaskIsRefused) {
  // Nothing done yet: any task is new, the statistics round 0 included.
  EXPECT_OK(CheckTaskIsNew({}, {0, 1}));

  const std::vector<RoundAttempt> done = {{0, 1}, {1, 1}, {2, 1}, {2, 2}};
  // A later round, and a later attempt of the last round, are new.
  EXPECT_OK(CheckTaskIsNew(done, {3, 1}));
  EXPECT_OK(CheckTaskIsNew(done, {2, 3}));
  // The same attempt again, an earlier attempt of the last round, and an
  // earlier round (even with a larger attempt number) are replays.
  EXPECT_THAT(CheckTaskIsNew(done, {2, 2}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already took part in round 2 attempt 2")));
  EXPECT_THAT(CheckTaskIsNew(done, {2, 1}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("replayed task")));
  EXPECT_THAT(CheckTaskIsNew(done, {1, 7}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 2 attempt 1")));
  EXPECT_THAT(CheckTaskIsNew(done, {0, 2}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("replayed task")));
}

}  // namespace
}  // namespace tessera::agent
