// The agent's privacy ledger: a round is recorded once, never overwritten,
// survives restarts, and sums up per dataset.
#include "agent/ledger/privacy_ledger_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::SizeIs;

Participation Round(const std::string& job, int64_t round, const std::string& dataset,
                    double noise) {
  Participation p;
  p.job_id = job;
  p.round = round;
  p.attempt = 1;
  p.dataset = dataset;
  p.recorded_at = absl::FromUnixSeconds(1'800'000'000 + round);
  EXPECT_OK(p.events.Add(privacy::PoissonGaussianEvent{noise, 0.01}, 100));
  p.epsilon_after = 0.5 * static_cast<double>(round);
  p.delta = 1e-5;
  return p;
}

TEST(PrivacyLedgerStoreTest, RecordsOnceAndNeverOverwrites) {
  ASSERT_OK_AND_ASSIGN(auto ledger, PrivacyLedgerStore::Open(":memory:"));
  EXPECT_THAT(ledger->Record(Round("job-a", 1, "diabetes", 1.1)), IsOkAndHolds(true));
  // A retry of the same record is a no-op.
  EXPECT_THAT(ledger->Record(Round("job-a", 1, "diabetes", 1.1)), IsOkAndHolds(false));
  // The same round with other settings is refused.
  EXPECT_THAT(ledger->Record(Round("job-a", 1, "diabetes", 0.5)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("never overwritten")));
  ASSERT_OK_AND_ASSIGN(auto all, ledger->List());
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_EQ(std::get<privacy::PoissonGaussianEvent>(all[0].events.entries()[0].event)
                .noise_multiplier,
            1.1);
}

TEST(PrivacyLedgerStoreTest, SpentSumsEveryRoundOfTheDatasetAcrossRestarts) {
  TempDir dir;
  const std::string path = dir.File("ledger.db");
  {
    ASSERT_OK_AND_ASSIGN(auto ledger, PrivacyLedgerStore::Open(path));
    ASSERT_OK(ledger->Record(Round("job-a", 1, "diabetes", 1.1)).status());
    ASSERT_OK(ledger->Record(Round("job-b", 1, "diabetes", 1.1)).status());
    ASSERT_OK(ledger->Record(Round("job-a", 2, "cardiology", 1.1)).status());
    Participation skellam = Round("job-c", 1, "diabetes", 1.1);
    skellam.events = {};
    ASSERT_OK(skellam.events.Add(privacy::SkellamEvent{100, 1000, 40000}, 1));
    ASSERT_OK(ledger->Record(skellam).status());
  }
  ASSERT_OK_AND_ASSIGN(auto ledger, PrivacyLedgerStore::Open(path));
  ASSERT_OK_AND_ASSIGN(privacy::PrivacyLedger spent, ledger->Spent("diabetes"));
  // The two identical Gaussian rounds merge into one entry of 200 steps.
  ASSERT_THAT(spent.entries(), SizeIs(2));
  EXPECT_EQ(spent.entries()[0].count, 200);
  EXPECT_EQ(std::get<privacy::SkellamEvent>(spent.entries()[1].event).variance, 40000);
  ASSERT_OK_AND_ASSIGN(privacy::PrivacyLedger other, ledger->Spent("cardiology"));
  EXPECT_EQ(other.entries()[0].count, 100);
  ASSERT_OK_AND_ASSIGN(privacy::PrivacyLedger none, ledger->Spent("unknown"));
  EXPECT_TRUE(none.empty());
}

TEST(PrivacyLedgerStoreTest, UnreadableEventsAreDataLossNotZeroSpend) {
  EXPECT_THAT(EventsFromJson("not json"), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(EventsFromJson("[{\"type\":\"laplace\",\"count\":1}]"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(EventsFromJson("[{\"type\":\"poisson_gaussian\",\"noise_multiplier\":-1,"
                             "\"sampling_rate\":0.1,\"count\":1}]"),
              StatusIs(absl::StatusCode::kDataLoss));
  privacy::PrivacyLedger events;
  ASSERT_OK(events.Add(privacy::PoissonGaussianEvent{1.25, 0.02}, 7));
  ASSERT_OK_AND_ASSIGN(privacy::PrivacyLedger back, EventsFromJson(EventsToJson(events)));
  ASSERT_THAT(back.entries(), SizeIs(1));
  EXPECT_EQ(back.entries()[0].count, 7);
  EXPECT_TRUE(back.entries()[0].event == events.entries()[0].event);
}

}  // namespace
}  // namespace tessera::agent
