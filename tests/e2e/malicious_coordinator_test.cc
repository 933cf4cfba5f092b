// The agent as the guard at its trust's boundary, against a coordinator that
// lies (the threat model's "honest-but-curious, possibly compromised"): a
// real tessera-agent process dials a scripted hostile coordinator
// (tests/e2e/hostile_coordinator.h) under the federation's real coordinator
// certificate. Each test builds an honest-looking round with the real
// secure-aggregation server and three real sites run in-process, tampers
// with one thing, and checks that the agent refuses and says why, and that
// it sent nothing it must not: no masked input, no share that would help
// unmask it.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/data/statistics.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "common/config.h"
#include "common/files.h"
#include "coordinator/job/job_spec.h"
#include "coordinator/job/round_plan.h"
#include "crypto/certificate.h"
#include "crypto/random.h"
#include "crypto/secagg/key_schedule.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/hostile_coordinator.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

namespace secagg = crypto::secagg;
using tessera::v1::Refusal;
using tessera::v1::Stage;
using ::testing::HasSubstr;

const std::string kAgent = "alpha";
const std::vector<std::string> kLocalSites = {"bravo", "charlie", "delta"};
const std::vector<std::string> kParticipants = {"alpha", "bravo", "charlie", "delta"};
constexpr absl::Duration kWait = absl::Seconds(20);

// The job of every test; `privacy` is its [privacy] table. The harness's
// default cohort has the columns age and outcome.
std::string JobToml(const std::string& privacy) {
  return absl::StrCat(R"([job]
name = "hostile"
dataset = "cohort"
[model]
kind = "logistic"
[schema]
label = "outcome"
[schema.columns.age]
type = "numeric"
min = 18
max = 100
[schema.columns.outcome]
type = "binary"
[training]
learning_rate = 0.1
local_epochs = 1
batch_size = 100
[rounds]
count = 3
min_sites = 4
max_sites = 4
[privacy]
)", privacy, R"(
[secure_aggregation]
threshold = 2
neighbours = 0
bit_width = 32
)");
}

// The policy of the agent under test, unless a test says otherwise.
constexpr char kPolicy[] = R"([policy]
max_epsilon = 2.0
min_noise_multiplier = 0.8
max_clip_norm = 2.0
allow_non_private = false
)";

class MaliciousCoordinatorTest : public ::testing::Test {
 protected:
  // One PKI (and one idle real coordinator) for the suite: making them is
  // most of a test's time. Each test has its own hostile coordinator, agent
  // process and job id, so nothing one test does is seen by the next.
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<LocalFederation>> federation =
        LocalFederation::Start(kParticipants);
    ASSERT_OK(federation.status());
    federation_ = federation->release();
    ASSERT_OK_AND_ASSIGN(ca_pem_, ReadFileToString(federation_->Pki("ca.pem"), "CA"));
    for (const std::string& site : kLocalSites) {
      ScriptedRound::LocalSite local;
      local.site_id = site;
      ASSERT_OK_AND_ASSIGN(local.certificate_pem,
                           ReadFileToString(federation_->Pki("site-" + site + ".pem"), "cert"));
      ASSERT_OK_AND_ASSIGN(local.key_pem,
                           ReadFileToString(federation_->Pki("site-" + site + ".key"), "key"));
      locals_.push_back(std::move(local));
    }
  }
  static void TearDownTestSuite() {
    delete federation_;
    federation_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(federation_, nullptr);
    job_id_ = absl::StrCat("job-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_OK_AND_ASSIGN(coordinator_, HostileCoordinator::Start({federation_->Pki("ca.pem"),
                                                                  federation_->Pki("coordinator.pem"),
                                                                  federation_->Pki("coordinator.key")}));
  }
  void TearDown() override {
    if (agent_started_) {
      EXPECT_OK(federation_->KillAgent(kAgent));
    }
  }

  void StartAgent(const std::string& policy = kPolicy) {
    federation_->SetAgentSetup(kAgent, {"", policy, coordinator_->address()});
    ASSERT_OK(federation_->StartAgent(kAgent));
    agent_started_ = true;
    ASSERT_OK(coordinator_->WaitForHeartbeat(kAgent, kWait)) << federation_->AgentOutput(kAgent);
  }

  coordinator::JobSpec Spec(const std::string& privacy) {
    absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(JobToml(privacy), "job.toml");
    EXPECT_OK(reader.status());
    absl::StatusOr<coordinator::JobSpec> spec = coordinator::ParseJobSpec(*reader);
    EXPECT_OK(spec.status());
    return *spec;
  }

  // A task as the real coordinator builds it (coordinator/job_runner.cc).
  tessera::v1::Task Task(const coordinator::JobSpec& spec, tessera::v1::RoundKind kind,
                         uint32_t round, uint32_t attempt) {
    tessera::v1::Task task;
    task.mutable_round()->set_job_id(job_id_);
    task.mutable_round()->set_round(round);
    task.mutable_round()->set_attempt(attempt);
    task.mutable_round()->set_stage(tessera::v1::STAGE_TRAIN);
    task.set_kind(kind);
    task.set_dataset("cohort");
    task.set_job_json(coordinator::CanonicalJson(spec));
    for (const std::string& site : kParticipants) task.add_participants(site);
    std::array<uint8_t, 32> seed{};
    EXPECT_OK(crypto::RandomBytes(absl::MakeSpan(seed)));
    task.set_round_seed(seed.data(), seed.size());
    task.set_stage_deadline_unix_ms(absl::ToUnixMillis(absl::Now() + absl::Seconds(60)));
    // A model file the agent fetches only in training rounds (it is never
    // run: every training task here is refused before training).
    *task.mutable_model() = coordinator_->AddObject("a model file of job " + job_id_);
    if (kind == tessera::v1::ROUND_KIND_TRAINING) {
      const float parameters[2] = {0.0f, 0.0f};  // logistic on one feature: weight, bias
      std::string bytes(sizeof(parameters), '\0');
      std::memcpy(bytes.data(), parameters, sizeof(parameters));
      *task.mutable_global_parameters() = coordinator_->AddObject(bytes);
      task.set_standardization_json(R"({"columns":["age"],"mean":[60],"stddev":[11]})");
    }
    return task;
  }

  // The secure-aggregation round of a statistics task, as the agent derives it.
  std::unique_ptr<ScriptedRound> Round(const coordinator::JobSpec& spec,
                                       const tessera::v1::Task& task) {
    absl::StatusOr<coordinator::AggregateCodec> codec = coordinator::AggregateCodec::ForStatistics(
        spec, static_cast<int64_t>(3 * agent::data::NumericFeatureNames(spec.schema).size()));
    EXPECT_OK(codec.status());
    const secagg::RoundParameters parameters = coordinator::SecAggParameters(
        spec, job_id_, task.round().round(), task.round().attempt(), kParticipants,
        task.round_seed(), codec->word_count());
    absl::StatusOr<std::unique_ptr<ScriptedRound>> round =
        ScriptedRound::Create(*coordinator_, parameters, task.round(), kAgent, locals_, ca_pem_);
    EXPECT_OK(round.status());
    return std::move(*round);
  }

  // Gives the agent the statistics task of round 0, attempt 1 of a job
  // without privacy (copied to `given`, if not null) and returns the
  // scripted round of the other sites, as the tests that play the secure
  // aggregation stage by stage begin.
  std::unique_ptr<ScriptedRound> GiveStatisticsTask(tessera::v1::Task* given = nullptr) {
    const coordinator::JobSpec spec = Spec("mode = \"none\"");
    const tessera::v1::Task task = Task(spec, tessera::v1::ROUND_KIND_STATISTICS, 0, 1);
    std::unique_ptr<ScriptedRound> round = Round(spec, task);
    coordinator_->GiveTask(kAgent, task);
    if (given != nullptr) *given = task;
    return round;
  }

  // What the agent submitted, by stage (refusals under their stage too).
  std::vector<Stage> SubmittedStages() const {
    std::vector<Stage> stages;
    for (const auto& submission : coordinator_->Submissions(kAgent)) {
      stages.push_back(submission.round().stage());
    }
    return stages;
  }

  // Waits until the agent has read everything given so far and come back
  // for more: whatever it was going to send about it has been sent.
  void WaitUntilIdle() {
    ASSERT_OK(coordinator_->WaitForPolls(kAgent, coordinator_->Polls(kAgent) + 2, kWait));
  }

  // The agent's refusal: its only submission after `index` earlier ones.
  Refusal ExpectRefusal(size_t index) {
    absl::StatusOr<tessera::v1::StageSubmission> submission =
        coordinator_->WaitForSubmission(kAgent, index, kWait);
    EXPECT_OK(submission.status()) << federation_->AgentOutput(kAgent);
    if (!submission.ok()) return {};
    EXPECT_TRUE(submission->has_refusal()) << submission->ShortDebugString();
    EXPECT_EQ(submission->round().stage(), tessera::v1::STAGE_ADVERTISE_KEYS);
    WaitUntilIdle();
    // Nothing else: no keys, no masked input.
    EXPECT_EQ(coordinator_->Submissions(kAgent).size(), index + 1);
    EXPECT_TRUE(coordinator_->Uploads().empty());
    return submission->refusal();
  }

  static LocalFederation* federation_;
  static std::string ca_pem_;
  static std::vector<ScriptedRound::LocalSite> locals_;
  std::string job_id_;
  std::unique_ptr<HostileCoordinator> coordinator_;
  bool agent_started_ = false;
};

LocalFederation* MaliciousCoordinatorTest::federation_ = nullptr;
std::string MaliciousCoordinatorTest::ca_pem_;
std::vector<ScriptedRound::LocalSite> MaliciousCoordinatorTest::locals_;

// --------------------------------------------------------- substituted keys

// The coordinator swaps the keys two sites advertised (keeping each site's
// certificate and signature): the signatures no longer verify over the keys
// they sit next to, and the agent leaves the round before sharing anything.
TEST_F(MaliciousCoordinatorTest, SwappedKeysAreRefused) {
  StartAgent();
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask();
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));
  ASSERT_EQ(keys.neighbours.size(), 3u);
  std::swap(keys.neighbours[0].encryption_public_key, keys.neighbours[1].encryption_public_key);
  std::swap(keys.neighbours[0].mask_public_key, keys.neighbours[1].mask_public_key);
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  WaitUntilIdle();

  EXPECT_THAT(SubmittedStages(), ::testing::ElementsAre(tessera::v1::STAGE_ADVERTISE_KEYS));
  EXPECT_THAT(federation_->AgentOutput(kAgent), HasSubstr("round left"));
  EXPECT_THAT(federation_->AgentOutput(kAgent),
              HasSubstr("keys of site `bravo` are not signed by its certificate key"));
}

// The coordinator replaces one site's keys with its own and signs them with
// another real site's certificate key (the best forgery it can make without
// that site's key): the certificate does not name the site whose keys they
// claim to be.
TEST_F(MaliciousCoordinatorTest, KeysResignedByAnotherSiteAreRefused) {
  StartAgent();
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask();
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));

  // Keys the coordinator holds the private halves of, claimed for bravo and
  // signed with charlie's key and certificate.
  ASSERT_OK_AND_ASSIGN(auto context, secagg::RoundContext::Create(round->parameters()));
  const uint32_t bravo = round->ParticipantOf("bravo");
  auto entry = std::find_if(keys.neighbours.begin(), keys.neighbours.end(),
                            [&](const secagg::NeighbourKeys& k) { return k.participant == bravo; });
  ASSERT_NE(entry, keys.neighbours.end());
  ASSERT_OK_AND_ASSIGN(crypto::X25519PrivateKey fake_c, crypto::X25519PrivateKey::Generate());
  ASSERT_OK_AND_ASSIGN(crypto::X25519PrivateKey fake_s, crypto::X25519PrivateKey::Generate());
  entry->encryption_public_key = fake_c.public_key();
  entry->mask_public_key = fake_s.public_key();
  ASSERT_OK_AND_ASSIGN(auto charlie, crypto::PrivateKeySigner::FromPem(locals_[1].key_pem));
  ASSERT_OK_AND_ASSIGN(entry->signature,
                       charlie->Sign(secagg::AdvertiseSignaturePayload(
                           context, bravo, entry->encryption_public_key, entry->mask_public_key)));
  ASSERT_OK_AND_ASSIGN(auto charlie_certificate,
                       crypto::Certificate::FromPem(locals_[1].certificate_pem));
  entry->certificate_der = charlie_certificate->Der();
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  WaitUntilIdle();

  EXPECT_THAT(SubmittedStages(), ::testing::ElementsAre(tessera::v1::STAGE_ADVERTISE_KEYS));
  EXPECT_THAT(federation_->AgentOutput(kAgent), HasSubstr("round left"));
  EXPECT_THAT(federation_->AgentOutput(kAgent),
              HasSubstr("the certificate presented for site `bravo` belongs to `charlie`"));
}

// ----------------------------------------------------- lying survivor sets

// The agent is told delta dropped while the other sites are told it
// survived: were the agent to answer, the coordinator would hold delta's
// self-mask seed shares from the others and its mask-key share from the
// agent. The consistency check catches it: the others' signatures are over
// another set, and the agent reveals nothing.
TEST_F(MaliciousCoordinatorTest, SurvivorSetDifferentFromTheOthersIsRefused) {
  StartAgent();
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask();
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  ASSERT_OK_AND_ASSIGN(secagg::ShareRelay relay, round->ShareRelayForAgent(1, kWait));
  round->Deliver(tessera::v1::STAGE_MASKED_INPUT, secagg::Serialize(relay));
  ASSERT_OK_AND_ASSIGN(secagg::SurvivorSet survivors, round->SurvivorSetForAgent(2, kWait));
  ASSERT_EQ(survivors.survivors.size(), 4u);
  secagg::SurvivorSet lie = survivors;
  const uint32_t delta = round->ParticipantOf("delta");
  lie.survivors.erase(std::remove(lie.survivors.begin(), lie.survivors.end(), delta),
                      lie.survivors.end());
  round->Deliver(tessera::v1::STAGE_CONSISTENCY_CHECK, secagg::Serialize(lie));
  // The agent signs what it was shown (that alone reveals nothing)...
  ASSERT_OK(coordinator_->WaitForSubmission(kAgent, 3, kWait).status());
  // ...and is then shown its set with the signatures of bravo and charlie,
  // which are over the honest set.
  secagg::UnmaskRequest request;
  request.header = relay.header;
  request.survivors = lie.survivors;
  for (const secagg::PeerSignature& signature : round->local_signatures()) {
    if (signature.signer != delta) request.signatures.push_back(signature);
  }
  std::sort(request.signatures.begin(), request.signatures.end(),
            [](const auto& a, const auto& b) { return a.signer < b.signer; });
  round->Deliver(tessera::v1::STAGE_UNMASK, secagg::Serialize(request));
  WaitUntilIdle();

  EXPECT_THAT(SubmittedStages(),
              ::testing::ElementsAre(tessera::v1::STAGE_ADVERTISE_KEYS,
                                     tessera::v1::STAGE_SHARE_KEYS,
                                     tessera::v1::STAGE_MASKED_INPUT,
                                     tessera::v1::STAGE_CONSISTENCY_CHECK));
  EXPECT_THAT(federation_->AgentOutput(kAgent), HasSubstr("does not verify over the survivor set"));
}

// The unmask request names another survivor set than the one the agent
// signed (asking for delta's self-mask seed share after delta was declared
// dropped): refused, no share revealed.
TEST_F(MaliciousCoordinatorTest, UnmaskRequestForAnotherSurvivorSetIsRefused) {
  StartAgent();
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask();
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  ASSERT_OK_AND_ASSIGN(secagg::ShareRelay relay, round->ShareRelayForAgent(1, kWait));
  round->Deliver(tessera::v1::STAGE_MASKED_INPUT, secagg::Serialize(relay));
  ASSERT_OK_AND_ASSIGN(secagg::SurvivorSet survivors, round->SurvivorSetForAgent(2, kWait));
  secagg::SurvivorSet lie = survivors;
  const uint32_t delta = round->ParticipantOf("delta");
  lie.survivors.erase(std::remove(lie.survivors.begin(), lie.survivors.end(), delta),
                      lie.survivors.end());
  round->Deliver(tessera::v1::STAGE_CONSISTENCY_CHECK, secagg::Serialize(lie));
  ASSERT_OK(coordinator_->WaitForSubmission(kAgent, 3, kWait).status());
  // The honest request (all four survived, as the others signed) differs
  // from the set the agent signed.
  secagg::UnmaskRequest request;
  request.header = relay.header;
  request.survivors = survivors.survivors;
  request.signatures = round->local_signatures();
  std::sort(request.signatures.begin(), request.signatures.end(),
            [](const auto& a, const auto& b) { return a.signer < b.signer; });
  round->Deliver(tessera::v1::STAGE_UNMASK, secagg::Serialize(request));
  WaitUntilIdle();

  EXPECT_EQ(SubmittedStages().size(), 4u);
  EXPECT_THAT(federation_->AgentOutput(kAgent),
              HasSubstr("differs from the one site `alpha` signed"));
}

// A survivor set that leaves the agent fewer surviving neighbours than the
// threshold: its masks could then be removed from fewer inputs than the
// threshold protects. The agent does not even sign it.
TEST_F(MaliciousCoordinatorTest, SurvivorSetBelowThresholdIsRefused) {
  StartAgent();
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask();
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  ASSERT_OK_AND_ASSIGN(secagg::ShareRelay relay, round->ShareRelayForAgent(1, kWait));
  round->Deliver(tessera::v1::STAGE_MASKED_INPUT, secagg::Serialize(relay));
  ASSERT_OK(round->SurvivorSetForAgent(2, kWait).status());
  secagg::SurvivorSet lie;
  lie.header = relay.header;
  lie.survivors = {round->ParticipantOf("alpha"), round->ParticipantOf("bravo")};
  std::sort(lie.survivors.begin(), lie.survivors.end());
  round->Deliver(tessera::v1::STAGE_CONSISTENCY_CHECK, secagg::Serialize(lie));
  WaitUntilIdle();

  EXPECT_EQ(SubmittedStages().size(), 3u);  // keys, shares, masked input; no signature
  EXPECT_THAT(federation_->AgentOutput(kAgent), HasSubstr("the threshold is 2"));
}

// A survivor set naming a site whose shares the coordinator never relayed
// to the agent (so the agent's masked input has no pairwise mask with it):
// inconsistent with the earlier stage, refused.
TEST_F(MaliciousCoordinatorTest, SurvivorSetInconsistentWithRelayedSharesIsRefused) {
  StartAgent();
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask();
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  ASSERT_OK_AND_ASSIGN(secagg::ShareRelay relay, round->ShareRelayForAgent(1, kWait));
  const uint32_t delta = round->ParticipantOf("delta");
  relay.shares.erase(std::remove_if(relay.shares.begin(), relay.shares.end(),
                                    [&](const secagg::EncryptedShares& s) { return s.peer == delta; }),
                     relay.shares.end());
  round->Deliver(tessera::v1::STAGE_MASKED_INPUT, secagg::Serialize(relay));
  ASSERT_OK_AND_ASSIGN(tessera::v1::StageSubmission masked,
                       coordinator_->WaitForSubmission(kAgent, 2, kWait));
  secagg::SurvivorSet lie;
  lie.header = relay.header;
  for (const std::string& site : kParticipants) lie.survivors.push_back(round->ParticipantOf(site));
  std::sort(lie.survivors.begin(), lie.survivors.end());
  round->Deliver(tessera::v1::STAGE_CONSISTENCY_CHECK, secagg::Serialize(lie));
  WaitUntilIdle();

  EXPECT_EQ(SubmittedStages().size(), 3u);
  EXPECT_THAT(federation_->AgentOutput(kAgent),
              HasSubstr("SurvivorSet claims site `delta` sent a masked input, but its shares "
                        "never reached site `alpha`"));
}

// ------------------------------------------------------------ replayed tasks

// The same statistics task again after the agent finished its round: before
// the fix the agent ran the round a second time with fresh keys, releasing a
// second masked contribution of the same data. Now it refuses.
TEST_F(MaliciousCoordinatorTest, SameTaskAfterTheRoundIsRefusedAsReplay) {
  StartAgent();
  tessera::v1::Task task;
  std::unique_ptr<ScriptedRound> round = GiveStatisticsTask(&task);
  ASSERT_OK_AND_ASSIGN(secagg::KeyList keys, round->KeyListForAgent(0, kWait));
  round->Deliver(tessera::v1::STAGE_SHARE_KEYS, secagg::Serialize(keys));
  ASSERT_OK_AND_ASSIGN(secagg::ShareRelay relay, round->ShareRelayForAgent(1, kWait));
  round->Deliver(tessera::v1::STAGE_MASKED_INPUT, secagg::Serialize(relay));
  ASSERT_OK_AND_ASSIGN(secagg::SurvivorSet survivors, round->SurvivorSetForAgent(2, kWait));
  round->Deliver(tessera::v1::STAGE_CONSISTENCY_CHECK, secagg::Serialize(survivors));
  ASSERT_OK_AND_ASSIGN(secagg::UnmaskRequest request, round->UnmaskRequestForAgent(3, kWait));
  round->Deliver(tessera::v1::STAGE_UNMASK, secagg::Serialize(request));
  // The honest round completes: four sites in the sum.
  ASSERT_OK_AND_ASSIGN(secagg::AggregateResult result, round->Finish(4, kWait));
  EXPECT_EQ(result.included_sites.size(), 4u);

  coordinator_->GiveTask(kAgent, task);
  const Refusal refusal = ExpectRefusal(5);
  EXPECT_EQ(refusal.reason(), Refusal::ROUND_REPLAYED);
  EXPECT_THAT(refusal.message(), HasSubstr("already took part in round 0 attempt 1"));
  EXPECT_THAT(federation_->AgentOutput(kAgent), HasSubstr("reason=ROUND_REPLAYED"));
}

// An older round than one the agent's ledger records for the job (and the
// recorded attempt itself), e.g. from a coordinator replaying old traffic:
// refused before any data is read, with or without a larger attempt number.
TEST_F(MaliciousCoordinatorTest, RoundOlderThanTheLedgerIsRefusedAsReplay) {
  {
    const std::string state = federation_->AgentStateDir(kAgent);
    ASSERT_TRUE(::mkdir(state.c_str(), 0700) == 0 || errno == EEXIST) << state;
    ASSERT_OK_AND_ASSIGN(auto ledger, agent::PrivacyLedgerStore::Open(
                                          federation_->AgentStateDir(kAgent) + "/ledger.db"));
    agent::Participation recorded;
    recorded.job_id = job_id_;
    recorded.round = 3;
    recorded.attempt = 1;
    recorded.dataset = "cohort";
    recorded.recorded_at = absl::Now();
    recorded.delta = 1e-5;
    ASSERT_OK(ledger->Record(recorded).status());
  }
  // A budget this task fits in, so that the replay is its only fault.
  StartAgent("[policy]\nmax_epsilon = 100\nmin_noise_multiplier = 0.8\nmax_clip_norm = 2.0\n");
  const coordinator::JobSpec spec = Spec("mode = \"record\"\nnoise_multiplier = 1.2");
  coordinator_->GiveTask(kAgent, Task(spec, tessera::v1::ROUND_KIND_TRAINING, 2, 5));
  Refusal refusal = ExpectRefusal(0);
  EXPECT_EQ(refusal.reason(), Refusal::ROUND_REPLAYED);
  EXPECT_THAT(refusal.message(), HasSubstr("round 2 attempt 5"));
  EXPECT_THAT(refusal.message(), HasSubstr("already took part in round 3 attempt 1"));

  coordinator_->GiveTask(kAgent, Task(spec, tessera::v1::ROUND_KIND_TRAINING, 3, 1));
  refusal = ExpectRefusal(1);
  EXPECT_EQ(refusal.reason(), Refusal::ROUND_REPLAYED);
}

// -------------------------------------------------------- unapproved model

TEST_F(MaliciousCoordinatorTest, ModelNotInTheApprovedListIsRefused) {
  const std::string approved = crypto::Sha256Hex("the only model this trust approved");
  StartAgent(absl::StrCat(kPolicy, "approved_models = [\"", approved, "\"]\n"));
  const coordinator::JobSpec spec = Spec("mode = \"record\"\nnoise_multiplier = 1.2");
  const tessera::v1::Task task = Task(spec, tessera::v1::ROUND_KIND_TRAINING, 1, 1);
  coordinator_->GiveTask(kAgent, task);
  Refusal refusal = ExpectRefusal(0);
  EXPECT_EQ(refusal.reason(), Refusal::MODEL_NOT_APPROVED);
  EXPECT_THAT(refusal.message(), HasSubstr(task.model().sha256_hex()));
  EXPECT_THAT(refusal.message(), HasSubstr("approved_models"));

  // The statistics round reads the data too: the same rule applies.
  coordinator_->GiveTask(kAgent, Task(spec, tessera::v1::ROUND_KIND_STATISTICS, 0, 1));
  refusal = ExpectRefusal(1);
  EXPECT_EQ(refusal.reason(), Refusal::MODEL_NOT_APPROVED);
}

// --------------------------------------------------------- weaker privacy

// Each task asks for less privacy than the agent's policy (kPolicy) allows,
// each for one reason.
TEST_F(MaliciousCoordinatorTest, WeakerPrivacyThanThePolicyIsRefused) {
  StartAgent();
  struct Case {
    std::string privacy;
    Refusal::Reason reason;
    std::string says;
  };
  const std::vector<Case> cases = {
      // noise 0.5 < min_noise_multiplier 0.8
      {"mode = \"record\"\nnoise_multiplier = 0.5", Refusal::PRIVACY_TOO_WEAK,
       "noise multiplier 0.5 is below this trust's minimum of 0.8"},
      // clip 5 > max_clip_norm 2
      {"mode = \"record\"\nnoise_multiplier = 1.2\nclip_norm = 5.0", Refusal::PRIVACY_TOO_WEAK,
       "clip norm 5 is above this trust's maximum of 2"},
      // no DP, allow_non_private = false
      {"mode = \"none\"", Refusal::PRIVACY_TOO_WEAK, "policy.allow_non_private"},
      // noise 0.8 is allowed, but with batch 100 of ~112 training records
      // (q ~ 0.9) one round costs far more than max_epsilon = 2.
      {"mode = \"record\"\nnoise_multiplier = 0.8", Refusal::PRIVACY_BUDGET_EXCEEDED,
       "past this trust's limit of 2"},
  };
  uint32_t round = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.privacy);
    const size_t before = coordinator_->Submissions(kAgent).size();
    coordinator_->GiveTask(kAgent, Task(Spec(c.privacy), tessera::v1::ROUND_KIND_TRAINING, round++, 1));
    const Refusal refusal = ExpectRefusal(before);
    EXPECT_EQ(refusal.reason(), c.reason) << refusal.message();
    EXPECT_THAT(refusal.message(), HasSubstr(c.says));
  }
  // Nothing was spent: the ledger is empty.
  EXPECT_THAT(federation_->AgentOutput(kAgent), ::testing::Not(HasSubstr("update ready")));
}

}  // namespace
}  // namespace tessera::testing
