// A secure-aggregation round as the coordinator drives it: real sites
// (agent/round's SecAggSession over SecAgg+ clients), every message through
// its byte encoding, stage deadlines on a
// fake clock, dropouts, duplicates and late messages.
#include "coordinator/round/secure_round.h"

#include <map>
#include <random>
#include <set>

#include "agent/round/secagg_session.h"
#include "common/clock.h"
#include "crypto/secagg/messages.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/secagg/federation_fixture.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

namespace secagg = crypto::secagg;
using secagg::testing::TestFederation;
using ::tessera::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

constexpr absl::Duration kStageTimeout = absl::Seconds(30);
constexpr uint64_t kLength = 16;
constexpr uint32_t kBits = 20;

// n sites with clients, the round, and the inputs each site contributes.
class SecureRoundTest : public ::testing::Test {
 protected:
  void Start(uint32_t n, uint32_t threshold) {
    const TestFederation& federation = TestFederation::Get();
    parameters_ = federation.Parameters(n, /*neighbours=*/0, threshold, kBits, kLength, /*seed=*/9);
    clock_ = std::make_unique<FakeClock>(crypto::testing::TestNow());
    secagg::ServerConfig config{parameters_, federation.shared_authenticator(), clock_->Now()};
    ASSERT_OK_AND_ASSIGN(round_, SecureRound::Create(config, kStageTimeout, clock_->Now()));
    std::mt19937 rng(3);
    for (uint32_t i = 1; i <= n; ++i) {
      const std::string& id = federation.site_id(i);
      ASSERT_OK_AND_ASSIGN(auto client,
                           federation.MakeClient(parameters_, i, federation.shared_authenticator()));
      sessions_[id] = std::make_unique<agent::SecAggSession>(std::move(client));
      std::vector<uint32_t> input(kLength);
      for (uint32_t& x : input) x = rng() & ((1u << kBits) - 1);
      inputs_[id] = input;
    }
  }

  // Each site in `senders` answers its latest delivery (or starts), through
  // bytes, and submits to the round.
  void Send(const std::set<std::string>& senders) {
    for (const std::string& site : senders) {
      ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> payload, Produce(site));
      ASSERT_OK_AND_ASSIGN(auto submitted, round_->Submit(site, NextStageOf(site), payload));
      EXPECT_FALSE(submitted.duplicate);
      sent_[site] = payload;
    }
  }

  absl::StatusOr<std::vector<uint8_t>> Produce(const std::string& site) {
    agent::SecAggSession& session = *sessions_.at(site);
    auto it = inbox_.find(site);
    if (it == inbox_.end()) return session.Start();
    const StageDelivery& delivery = it->second;
    agent::SecAggInput input;
    switch (delivery.stage) {
      case SecAggStage::kShareKeys: input = agent::SecAggInput::kKeyList; break;
      case SecAggStage::kMaskedInput: input = agent::SecAggInput::kShareRelay; break;
      case SecAggStage::kConsistencyCheck: input = agent::SecAggInput::kSurvivorSet; break;
      case SecAggStage::kUnmask: input = agent::SecAggInput::kUnmaskRequest; break;
      default: return absl::InternalError("nothing to produce");
    }
    return session.Handle(input, delivery.payload,
                          [&]() -> absl::StatusOr<std::vector<uint32_t>> { return inputs_.at(site); });
  }

  SecAggStage NextStageOf(const std::string& site) const {
    auto it = inbox_.find(site);
    return it == inbox_.end() ? SecAggStage::kAdvertiseKeys : it->second.stage;
  }

  // Advances the round at the current time and files the deliveries.
  std::vector<StageDelivery> Advance() {
    auto deliveries = round_->Advance(clock_->Now());
    EXPECT_OK(deliveries.status());
    if (!deliveries.ok()) return {};
    for (const StageDelivery& delivery : *deliveries) inbox_[delivery.site_id] = delivery;
    return *deliveries;
  }

  std::set<std::string> AllSites() const {
    std::set<std::string> sites;
    for (const auto& [id, session] : sessions_) sites.insert(id);
    return sites;
  }

  std::vector<uint32_t> SumOf(const std::set<std::string>& sites) const {
    std::vector<uint32_t> sum(kLength, 0);
    for (const std::string& site : sites) {
      for (size_t j = 0; j < kLength; ++j) sum[j] = (sum[j] + inputs_.at(site)[j]) & ((1u << kBits) - 1);
    }
    return sum;
  }

  secagg::RoundParameters parameters_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<SecureRound> round_;
  std::map<std::string, std::unique_ptr<agent::SecAggSession>> sessions_;
  std::map<std::string, std::vector<uint32_t>> inputs_;
  std::map<std::string, StageDelivery> inbox_;
  std::map<std::string, std::vector<uint8_t>> sent_;
};

TEST_F(SecureRoundTest, AllSitesAnsweringClosesEachStageAtOnce) {
  Start(5, 3);
  const std::set<std::string> all = AllSites();
  for (SecAggStage stage : {SecAggStage::kAdvertiseKeys, SecAggStage::kShareKeys,
                            SecAggStage::kMaskedInput, SecAggStage::kConsistencyCheck,
                            SecAggStage::kUnmask}) {
    EXPECT_EQ(round_->stage(), stage);
    Send(all);
    // No time passes: the stage closes because nobody is pending.
    std::vector<StageDelivery> deliveries = Advance();
    if (stage != SecAggStage::kUnmask) {
      EXPECT_EQ(deliveries.size(), all.size()) << SecAggStageName(stage);
    }
  }
  ASSERT_EQ(round_->stage(), SecAggStage::kDone) << round_->abort_status();
  EXPECT_THAT(round_->result().sum, ElementsAreArray(SumOf(all)));
  EXPECT_THAT(round_->result().excluded_sites, IsEmpty());
  EXPECT_THAT(round_->missed(), IsEmpty());
}

TEST_F(SecureRoundTest, StageStaysOpenUntilItsDeadlineThenGoesOnWithoutTheSilent) {
  Start(5, 3);
  std::set<std::string> alive = AllSites();
  Send(alive);
  Advance();
  Send(alive);
  Advance();
  // One site crashes before sending its masked input.
  const std::string crashed = *alive.begin();
  alive.erase(crashed);
  Send(alive);
  clock_->Advance(kStageTimeout - absl::Seconds(1));
  EXPECT_THAT(Advance(), IsEmpty());
  EXPECT_EQ(round_->stage(), SecAggStage::kMaskedInput);
  EXPECT_THAT(round_->PendingSites(), ElementsAreArray({crashed}));
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(Advance().size(), alive.size());
  // Its late message is refused: the stage is over.
  EXPECT_THAT(round_->Submit(crashed, SecAggStage::kMaskedInput, std::vector<uint8_t>{1, 2, 3}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("consistency check")));
  Send(alive);
  Advance();
  Send(alive);
  Advance();
  ASSERT_EQ(round_->stage(), SecAggStage::kDone) << round_->abort_status();
  EXPECT_THAT(round_->result().sum, ElementsAreArray(SumOf(alive)));
  EXPECT_THAT(round_->result().excluded_sites, ElementsAreArray({crashed}));
  // The stage it missed is on record (the coordinator shows it in the
  // round's participants); nobody else missed one.
  EXPECT_THAT(round_->missed(),
              ElementsAre(std::make_pair(crashed, SecAggStage::kMaskedInput)));
}

TEST_F(SecureRoundTest, DroppedSiteIsNotWaitedForAndIsLeftOutOfTheSum) {
  Start(5, 3);
  std::set<std::string> alive = AllSites();
  // One site refuses the task: the others advertise, and the stage closes
  // at once instead of at its deadline.
  const std::string refused = *alive.begin();
  alive.erase(refused);
  round_->Drop(refused);
  Send(alive);
  EXPECT_EQ(Advance().size(), alive.size());
  EXPECT_EQ(round_->stage(), SecAggStage::kShareKeys);
  for (int stage = 0; stage < 4; ++stage) {
    Send(alive);
    Advance();
  }
  ASSERT_EQ(round_->stage(), SecAggStage::kDone) << round_->abort_status();
  EXPECT_THAT(round_->result().sum, ElementsAreArray(SumOf(alive)));
  EXPECT_THAT(round_->result().excluded_sites, ElementsAreArray({refused}));
}

TEST_F(SecureRoundTest, ResubmissionIsIdempotentAndConflictsAreRefused) {
  Start(4, 3);
  const std::set<std::string> all = AllSites();
  Send(all);
  const std::string site = *all.begin();
  ASSERT_OK_AND_ASSIGN(auto again, round_->Submit(site, SecAggStage::kAdvertiseKeys, sent_.at(site)));
  EXPECT_TRUE(again.duplicate);
  // A different message for the same stage (here: another site's) is refused.
  const std::string other = *all.rbegin();
  EXPECT_THAT(round_->Submit(site, SecAggStage::kAdvertiseKeys, sent_.at(other)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("different")));
  // A message for a later stage is refused while this one is open.
  EXPECT_THAT(round_->Submit(site, SecAggStage::kMaskedInput, sent_.at(site)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("while the round is in `advertise keys`")));
  // Garbage for the open stage from a site that has not sent yet is refused
  // and changes nothing.
  Advance();
  EXPECT_THAT(round_->Submit(site, SecAggStage::kShareKeys, std::vector<uint8_t>{0, 1}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  Send(all);
  Advance();
  Send(all);
  Advance();
  Send(all);
  Advance();
  Send(all);
  Advance();
  ASSERT_EQ(round_->stage(), SecAggStage::kDone) << round_->abort_status();
  EXPECT_THAT(round_->result().sum, ElementsAreArray(SumOf(all)));
}

TEST_F(SecureRoundTest, TooFewSurvivorsAbortsNamingTheMissingSites) {
  Start(5, 4);
  std::set<std::string> alive = AllSites();
  Send(alive);
  Advance();
  // Two of five go silent: no site keeps 4 live neighbours.
  auto it = alive.begin();
  const std::string gone1 = *it++;
  const std::string gone2 = *it;
  alive.erase(gone1);
  alive.erase(gone2);
  Send(alive);
  clock_->Advance(kStageTimeout);
  Advance();
  EXPECT_EQ(round_->stage(), SecAggStage::kAborted);
  EXPECT_THAT(round_->abort_status(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(round_->abort_status().message()),
              HasSubstr("sites missing at `share keys`: " + gone1 + ", " + gone2));
  EXPECT_THAT(round_->Advance(clock_->Now()), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SecureRoundCreateTest, RefusesNonPositiveTimeout) {
  const TestFederation& federation = TestFederation::Get();
  secagg::ServerConfig config{federation.Parameters(3, 0, 2, 16, 4, 1),
                              federation.shared_authenticator(), crypto::testing::TestNow()};
  EXPECT_THAT(SecureRound::Create(config, absl::ZeroDuration(), crypto::testing::TestNow()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::coordinator
