// Governance budgets against the central ledger: spend composed per trust
// and per job with the RDP accountant at the budget's delta, entries
// without an estimate make the spend incomplete (and refused, never
// counted as zero), and the check allows exactly what fits.
#include "coordinator/budgets.h"

#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// One round of DP-SGD: 100 steps of a Poisson-subsampled Gaussian.
privacy::PrivacyLedger Round(double z = 1.1) {
  privacy::PrivacyLedger ledger;
  EXPECT_OK(ledger.Add(privacy::PoissonGaussianEvent{z, 0.01}, 100));
  return ledger;
}

LedgerRecord Entry(const std::string& job, int64_t round, const std::string& site,
                   const std::optional<privacy::PrivacyLedger>& events) {
  nlohmann::json json = {{"mode", "record"},
                         {"events", events ? nlohmann::json::parse(agent::EventsToJson(*events))
                                           : nlohmann::json(nullptr)}};
  return {job, round, site, "cohort", json.dump(), kNow};
}

BudgetRecord Budget(const std::string& site, double epsilon) {
  return {site, "cohort", epsilon, 1e-5, "governance", kNow, "board"};
}

// The accountant's epsilon of `rounds` rounds, computed directly.
double EpsilonOfRounds(int rounds) {
  privacy::PrivacyLedger all;
  for (int i = 0; i < rounds; ++i) EXPECT_OK(all.Add(privacy::PoissonGaussianEvent{1.1, 0.01}, 100));
  return agent::EpsilonOf(all, 1e-5).value();
}

TEST(BudgetsTest, SpendIsComposedPerTrustAndPerJob) {
  const std::vector<LedgerRecord> ledger = {Entry("job-a", 1, "rfh", Round()),
                                            Entry("job-a", 2, "rfh", Round()),
                                            Entry("job-b", 1, "rfh", Round()),
                                            Entry("job-a", 1, "guys", Round())};
  ASSERT_OK_AND_ASSIGN(auto spend, SummarizeSpend({Budget("rfh", 5)}, ledger, ""));
  ASSERT_THAT(spend, SizeIs(2));
  EXPECT_EQ(spend[0].site_id, "guys");
  EXPECT_FALSE(spend[0].budget.has_value());
  EXPECT_NEAR(spend[0].spent, EpsilonOfRounds(1), 1e-12);
  const SpendSummary& rfh = spend[1];
  ASSERT_TRUE(rfh.budget.has_value());
  EXPECT_TRUE(rfh.complete);
  EXPECT_NEAR(rfh.spent, EpsilonOfRounds(3), 1e-12);
  ASSERT_THAT(rfh.jobs, SizeIs(2));
  EXPECT_EQ(rfh.jobs[0].job_id, "job-a");
  EXPECT_EQ(rfh.jobs[0].rounds, 2);
  EXPECT_NEAR(rfh.jobs[0].epsilon, EpsilonOfRounds(2), 1e-12);
  EXPECT_NEAR(rfh.jobs[1].epsilon, EpsilonOfRounds(1), 1e-12);
  // Composition is sublinear: the total is less than the sum of the jobs.
  EXPECT_LT(rfh.spent, rfh.jobs[0].epsilon + rfh.jobs[1].epsilon);

  ASSERT_OK_AND_ASSIGN(auto only, SummarizeSpend({Budget("rfh", 5)}, ledger, "guys"));
  ASSERT_THAT(only, SizeIs(1));
  EXPECT_EQ(only[0].site_id, "guys");
}

TEST(BudgetsTest, TheCheckAllowsExactlyWhatFits) {
  const std::vector<LedgerRecord> ledger = {Entry("job-a", 1, "rfh", Round())};
  const double two = EpsilonOfRounds(2);
  ASSERT_OK_AND_ASSIGN(auto fits, SummarizeSpend({Budget("rfh", two + 1e-9)}, ledger, "rfh"));
  ASSERT_OK_AND_ASSIGN(BudgetVerdict allowed, CheckBudget(fits[0], Round()));
  EXPECT_TRUE(allowed.allowed);
  EXPECT_NEAR(allowed.after, two, 1e-12);
  ASSERT_OK_AND_ASSIGN(auto tight, SummarizeSpend({Budget("rfh", two - 1e-6)}, ledger, "rfh"));
  ASSERT_OK_AND_ASSIGN(BudgetVerdict refused, CheckBudget(tight[0], Round()));
  EXPECT_FALSE(refused.allowed);
  EXPECT_THAT(refused.reason, HasSubstr("rfh: this round would take dataset `cohort` to epsilon"));
  EXPECT_THAT(refused.reason, HasSubstr("past its budget"));
  // Privacy mode none releases nothing to account (governance approved it
  // explicitly), and a trust without a budget is not limited here.
  ASSERT_OK_AND_ASSIGN(BudgetVerdict none, CheckBudget(tight[0], privacy::PrivacyLedger()));
  EXPECT_TRUE(none.allowed);
  ASSERT_OK_AND_ASSIGN(auto unbudgeted, SummarizeSpend({}, ledger, "rfh"));
  EXPECT_TRUE(CheckBudget(unbudgeted[0], Round())->allowed);
}

TEST(BudgetsTest, ARoundWithoutAnEstimateMakesTheSpendIncompleteAndRefused) {
  const std::vector<LedgerRecord> ledger = {Entry("job-a", 1, "rfh", Round()),
                                            Entry("job-a", 2, "rfh", std::nullopt)};
  ASSERT_OK_AND_ASSIGN(auto spend, SummarizeSpend({Budget("rfh", 100)}, ledger, ""));
  ASSERT_THAT(spend, SizeIs(1));
  EXPECT_FALSE(spend[0].complete);
  EXPECT_EQ(spend[0].jobs[0].rounds, 2);
  EXPECT_NEAR(spend[0].spent, EpsilonOfRounds(1), 1e-12);  // at least this much
  ASSERT_OK_AND_ASSIGN(BudgetVerdict verdict, CheckBudget(spend[0], Round()));
  EXPECT_FALSE(verdict.allowed);
  EXPECT_THAT(verdict.reason, HasSubstr("cannot be checked"));
}

TEST(BudgetsTest, AnEntryThatDoesNotParseIsAnError) {
  LedgerRecord bad = Entry("job-a", 3, "rfh", Round());
  bad.event_json = "{not json";
  EXPECT_THAT(SummarizeSpend({}, {bad}, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("job `job-a` round 3")));
}

}  // namespace
}  // namespace tessera::coordinator
