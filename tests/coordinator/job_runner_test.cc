// The coordinator's round orchestration, scripted: a JobRunner over a real
// store (SQLite file), object store and mailboxes, a fake clock, and
// in-process sites that act as agents do — they take their work from the
// mailboxes, run the real site half of SecAgg+ (agent/round's
// SecAggSession), encode their contribution with the round's codec and
// submit every message through its bytes. Sites contribute known updates, so
// each committed checkpoint can be checked against the mean of exactly the
// sites the round record says were included (an independent restatement of
// FedAvg with server learning rate 1 and equal weights).
//
// Scripted: dropouts at every stage, a refusal, too few survivors (an
// aborted attempt retried with fresh keys), a job that runs out of attempts,
// a job waiting for sites (and for capable sites), a coordinator that stops
// in the middle of a round and resumes, and a stop by the ML lead.
#include "coordinator/job_runner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/round/secagg_session.h"
#include "common/flat_params.h"
#include "common/status.h"
#include "agent/round/local_policy.h"
#include "coordinator/budgets.h"
#include "coordinator/job/capabilities.h"
#include "tests/testing/full_disk_vfs.h"
#include "coordinator/job/job_json.h"
#include "coordinator/job/round_id.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "privacy/random.h"
#include "tests/crypto/secagg/federation_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::coordinator {
namespace {

namespace secagg = crypto::secagg;
using secagg::testing::TestFederation;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using tessera::v1::Stage;

constexpr absl::Duration kStageTimeout = absl::Seconds(30);
constexpr int64_t kDimension = 3;  // logistic model over age, bmi, smoker: 3 weights + bias
constexpr char kDataset[] = "cohort";

JobSpec MakeSpec() {
  JobSpec spec;
  spec.name = "runner-test";
  spec.dataset = kDataset;
  spec.schema.features = {agent::data::NumericColumn("age", 0, 120),
                          agent::data::NumericColumn("bmi", 10, 60)};
  spec.schema.label = agent::data::BinaryColumn("outcome");
  spec.rounds = 2;
  // Complete graph of 5: each site has k = 4 neighbours, t = 3 of which
  // must stay, so a round survives one site dropping out, not two.
  spec.min_sites = 5;
  spec.max_sites = 5;
  spec.stage_timeout = kStageTimeout;
  spec.max_attempts = 3;
  spec.secagg_threshold = 3;
  spec.secagg_neighbours = 0;
  spec.secagg_bit_width = 32;
  spec.privacy_mode = PrivacyMode::kNone;
  return spec;
}

// What a site does with a round: answer everything, go silent from a stage
// on (it crashed or lost its network), or refuse the task.
struct Behaviour {
  std::optional<Stage> silent_from;  // the first stage it does not answer
  std::string refusal;               // refuses the task with this message
};

// One in-process site: the agent's round handling without training.
struct Site {
  uint32_t index = 0;  // in TestFederation
  std::string id;
  std::vector<float> update;  // the model update it contributes every round
  double age_sum = 0;         // its statistics-round sums (count 10)
  // Which behaviour applies to (round, attempt); default: answer everything.
  std::function<Behaviour(uint32_t round, uint32_t attempt)> behaviour;
  bool connected = true;
  std::vector<std::string> capabilities = AgentCapabilities();
  uint64_t heartbeats = 0;
  struct Held {
    tessera::v1::Task task;
    std::unique_ptr<agent::SecAggSession> session;
    std::optional<AggregateCodec> codec;
    std::optional<strategy::AggregateLayout> layout;
  };
  std::map<std::string, Held> rounds;  // by job/round/attempt
  std::vector<tessera::v1::Task> tasks_seen;
  std::vector<std::string> aborts_seen;
};

std::string KeyOf(const tessera::v1::RoundRef& ref) {
  return absl::StrCat(ref.job_id(), "/", ref.round(), "/", ref.attempt());
}

std::optional<agent::SecAggInput> InputOf(Stage stage) {
  switch (stage) {
    case tessera::v1::STAGE_SHARE_KEYS: return agent::SecAggInput::kKeyList;
    case tessera::v1::STAGE_MASKED_INPUT: return agent::SecAggInput::kShareRelay;
    case tessera::v1::STAGE_CONSISTENCY_CHECK: return agent::SecAggInput::kSurvivorSet;
    case tessera::v1::STAGE_UNMASK: return agent::SecAggInput::kUnmaskRequest;
    default: return std::nullopt;
  }
}

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const TestFederation& federation = TestFederation::Get();
    clock_ = std::make_unique<FakeClock>(crypto::testing::TestNow());
    ASSERT_OK_AND_ASSIGN(store_, Store::Open(dir_.File("coordinator.db")));
    ASSERT_OK_AND_ASSIGN(objects_, ObjectStore::Open(dir_.File("objects"), 1 << 20));
    registry_ = std::make_unique<SiteRegistry>(*clock_, absl::Minutes(5));
    revocations_ = std::make_unique<Revocations>(federation.ca_pem(), "");
    for (uint32_t i = 1; i <= 6; ++i) {
      Site& site = sites_[federation.site_id(i)];
      site.index = i;
      site.id = federation.site_id(i);
      // Distinct updates, so the checkpoint tells which sites were summed.
      site.update = {0.01f * static_cast<float>(i), -0.02f * static_cast<float>(i),
                     0.005f * static_cast<float>(i * i)};
      site.age_sum = 10.0 * (40 + 2 * i);
    }
    StartRunner();
  }

  void TearDown() override { runner_.reset(); }

  // A coordinator (re)start: a new runner over the same database file.
  void StartRunner() {
    JobRunnerOptions options;
    runner_ = std::make_unique<JobRunner>(*store_, *objects_, *mailboxes_, *registry_,
                                          *revocations_,
                                          TestFederation::Get().shared_authenticator(), *clock_,
                                          options);
  }

  // The coordinator process dies: the runner goes without recording
  // anything, and the store is reopened from its file.
  // Its memory (mailboxes, live site registry) is lost; the sites keep
  // what they hold and heartbeat again.
  void CrashAndRestart() {
    runner_.reset();
    store_.reset();
    mailboxes_ = std::make_unique<Mailboxes>();
    registry_ = std::make_unique<SiteRegistry>(*clock_, absl::Minutes(5));
    ASSERT_OK_AND_ASSIGN(store_, Store::Open(dir_.File("coordinator.db")));
    StartRunner();
  }

  // Submits `spec` as an ML lead would and approves it.
  std::string SubmitApproved(const JobSpec& spec) {
    const std::string job_id = absl::StrCat("job-00000000000", ++jobs_);
    const std::string spec_json = CanonicalJson(spec);
    auto model = objects_->Put("builtin logistic model");
    EXPECT_OK(model.status());
    initial_ = {0.1f, -0.2f, 0.3f};
    const std::string parameters = ParameterBytes(
        Eigen::Map<const Eigen::VectorXf>(initial_.data(), kDimension));
    NewJob job;
    job.job_id = job_id;
    job.name = spec.name;
    job.spec_json = spec_json;
    job.spec_sha256 = crypto::Sha256Hex(spec_json);
    job.model_sha256 = *model;
    job.initial_parameters_sha256 = crypto::Sha256Hex(parameters);
    job.dimension = kDimension;
    job.submitted_by = "ml-lead";
    job.submitted_at = clock_->Now();
    EXPECT_OK(store_->CreateJob(job, Event("job.submitted", job_id)));
    CheckpointRecord initial;
    initial.job_id = job_id;
    initial.round = 0;
    initial.parameters = parameters;
    initial.parameters_sha256 = job.initial_parameters_sha256;
    initial.created_at = clock_->Now();
    EXPECT_OK(store_->SaveInitialCheckpoint(initial));
    EXPECT_OK(store_->RecordDecision(
        job_id, {"governance", clock_->Now(), true, "", job.spec_sha256, true},
        Event("job.approved", job_id)));
    return job_id;
  }

  AuditEvent Event(const std::string& action, const std::string& subject) {
    return {clock_->Now(), "test", "operator", action, subject, "{}"};
  }

  void Heartbeat(Site& site) {
    SiteReport report;
    report.agent_version = "test";
    report.datasets = {{kDataset, 200}};
    report.capabilities = site.capabilities;
    report.sequence = ++site.heartbeats;
    report.agent_time = clock_->Now();
    report.certificate_expires = clock_->Now() + absl::Hours(24 * 300);
    registry_->RecordHeartbeat(site.id, report);
  }

  Behaviour BehaviourOf(const Site& site, const tessera::v1::RoundRef& ref) const {
    return site.behaviour ? site.behaviour(ref.round(), ref.attempt()) : Behaviour{};
  }

  static bool Answers(const Behaviour& behaviour, Stage stage) {
    return !behaviour.silent_from.has_value() || stage < *behaviour.silent_from;
  }

  void Submit(const Site& site, tessera::v1::RoundRef ref, Stage stage,
              const std::vector<uint8_t>& payload) {
    tessera::v1::StageSubmission submission;
    ref.set_stage(stage);
    *submission.mutable_round() = ref;
    const std::string bytes(payload.begin(), payload.end());
    submission.set_payload(bytes);
    auto duplicate = runner_->Submit(site.id, submission, bytes);
    if (duplicate.status().code() == absl::StatusCode::kFailedPrecondition) {
      // A message of an attempt that is over (the coordinator restarted or
      // moved on): refused, as an agent's late message is.
      EXPECT_THAT(duplicate.status().message(), HasSubstr("is not in progress"));
      ++stale_refused_;
      return;
    }
    EXPECT_OK(duplicate.status()) << site.id << " " << tessera::v1::Stage_Name(stage);
    if (duplicate.ok()) {
      EXPECT_FALSE(*duplicate);
      // Sending it again (a retried call) is answered as a duplicate.
      auto again = runner_->Submit(site.id, submission, bytes);
      EXPECT_TRUE(again.ok() && *again) << site.id;
    }
  }

  // The site's contribution for the masked-input stage.
  absl::StatusOr<std::vector<uint32_t>> Contribution(Site& site, Site::Held& held) {
    std::vector<uint32_t> words;
    if (held.task.kind() == tessera::v1::ROUND_KIND_STATISTICS) {
      // count, sum, sum of squares for age and bmi over 10 records.
      const double bmi_sum = 270;
      std::vector<double> sums = {10, site.age_sum, site.age_sum * site.age_sum / 10 + 90,
                                  10, bmi_sum,      bmi_sum * bmi_sum / 10 + 40};
      TESSERA_RETURN_IF_ERROR(held.codec->EncodeStatistics(sums, &words).status());
      return words;
    }
    std::vector<float> values(static_cast<size_t>(held.layout->size()), 0.0f);
    TESSERA_ASSIGN_OR_RETURN(absl::Span<float> update, held.layout->MutableUpdate(absl::MakeSpan(values)));
    std::copy(site.update.begin(), site.update.end(), update.begin());
    const absl::Span<float> all(values);
    TESSERA_RETURN_IF_ERROR(held.layout->WriteSlot(all, strategy::kWeightSlot, 1.0f));
    TESSERA_RETURN_IF_ERROR(held.layout->WriteSlot(all, strategy::kEvalCountSlot, 10.0f));
    TESSERA_RETURN_IF_ERROR(held.layout->WriteSlot(all, strategy::kEvalLossSumSlot, 5.0f));
    TESSERA_RETURN_IF_ERROR(held.layout->WriteSlot(all, strategy::kEvalCorrectSlot, 7.0f));
    TESSERA_ASSIGN_OR_RETURN(auto rng, privacy::OsRandomSource::Create());
    TESSERA_RETURN_IF_ERROR(
        held.codec->Encode(values, RotationSeed(held.task.round_seed()), *rng, &words).status());
    return words;
  }

  void OnTask(Site& site, const tessera::v1::Task& task) {
    site.tasks_seen.push_back(task);
    const tessera::v1::RoundRef& ref = task.round();
    const Behaviour behaviour = BehaviourOf(site, ref);
    if (!behaviour.refusal.empty()) {
      tessera::v1::StageSubmission submission;
      *submission.mutable_round() = ref;
      submission.mutable_round()->set_stage(tessera::v1::STAGE_ADVERTISE_KEYS);
      submission.mutable_refusal()->set_reason(tessera::v1::Refusal::PRIVACY_BUDGET_EXCEEDED);
      submission.mutable_refusal()->set_message(behaviour.refusal);
      EXPECT_OK(runner_->Submit(site.id, submission, "").status());
      return;
    }
    if (!Answers(behaviour, tessera::v1::STAGE_ADVERTISE_KEYS)) return;
    auto spec = JobSpecFromJson(task.job_json());
    ASSERT_OK(spec.status());
    Site::Held held;
    held.task = task;
    if (task.kind() == tessera::v1::ROUND_KIND_STATISTICS) {
      ASSERT_OK_AND_ASSIGN(held.codec, AggregateCodec::ForStatistics(*spec, 6));
    } else {
      ASSERT_OK_AND_ASSIGN(held.layout, TrainingLayout(*spec, kDimension));
      ASSERT_OK_AND_ASSIGN(held.codec, AggregateCodec::ForTraining(*spec, *held.layout));
    }
    ASSERT_EQ(task.round_seed().size(), 32u);
    const secagg::RoundParameters parameters = SecAggParameters(
        *spec, ref.job_id(), ref.round(), ref.attempt(),
        {task.participants().begin(), task.participants().end()}, task.round_seed(),
        held.codec->word_count());
    const TestFederation& federation = TestFederation::Get();
    secagg::ClientConfig config{parameters, site.id, federation.certificate_pem(site.index),
                                federation.shared_authenticator(), clock_->Now()};
    ASSERT_OK_AND_ASSIGN(auto client, secagg::Client::Create(config, federation.signer(site.index)));
    held.session = std::make_unique<agent::SecAggSession>(std::move(client));
    ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> keys, held.session->Start());
    Submit(site, ref, tessera::v1::STAGE_ADVERTISE_KEYS, keys);
    site.rounds[KeyOf(ref)] = std::move(held);
  }

  void OnStageInput(Site& site, const tessera::v1::StageInput& input) {
    const tessera::v1::RoundRef& ref = input.round();
    auto it = site.rounds.find(KeyOf(ref));
    if (it == site.rounds.end()) return;
    if (!Answers(BehaviourOf(site, ref), ref.stage())) return;
    std::optional<agent::SecAggInput> stage = InputOf(ref.stage());
    ASSERT_TRUE(stage.has_value());
    Site::Held& held = it->second;
    const auto* bytes = reinterpret_cast<const uint8_t*>(input.payload().data());
    ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> answer,
                         held.session->Handle(*stage, crypto::ByteSpan(bytes, input.payload().size()),
                                              [&] { return Contribution(site, held); }));
    Submit(site, ref, ref.stage(), answer);
    if (ref.stage() == tessera::v1::STAGE_UNMASK) site.rounds.erase(it);  // done here
  }

  // Every connected site heartbeats and handles all its queued work; the
  // runner ticks. Returns true when some site had work.
  bool Pump() {
    bool any = false;
    for (auto& [id, site] : sites_) {
      if (!site.connected) continue;
      Heartbeat(site);
      tessera::v1::GetWorkResponse work;
      while (mailboxes_->Take(id, absl::InfinitePast(), [] { return false; }, &work) ==
             Mailboxes::WaitEnd::kWork) {
        any = true;
        if (work.has_task()) OnTask(site, work.task());
        if (work.has_stage_input()) OnStageInput(site, work.stage_input());
        if (work.has_aborted()) {
          site.aborts_seen.push_back(work.aborted().reason());
          site.rounds.erase(KeyOf(work.aborted().round()));
        }
        if (::testing::Test::HasFatalFailure()) return false;
      }
    }
    runner_->Tick(clock_->Now());
    return any;
  }

  // Pumps until `done`, letting stage deadlines pass whenever no site has
  // anything to do. Fails the test after `limit` pumps.
  void RunUntil(const std::function<bool()>& done, int limit = 400) {
    for (int i = 0; i < limit; ++i) {
      if (done()) return;
      if (!Pump()) clock_->Advance(kStageTimeout + absl::Seconds(1));
      if (::testing::Test::HasFatalFailure()) return;
    }
    FAIL() << "the scripted federation did not get there in " << limit << " steps";
  }

  JobRecord Job(const std::string& job_id) {
    auto job = store_->GetJob(job_id);
    EXPECT_OK(job.status());
    return job.ok() ? *job : JobRecord{};
  }

  bool Ended(const std::string& job_id) {
    const JobState state = Job(job_id).state;
    return state == JobState::kCompleted || state == JobState::kFailed ||
           state == JobState::kStopped;
  }

  void RunToEnd(const std::string& job_id) {
    RunUntil([&] { return Ended(job_id); });
  }

  std::vector<std::string> Included(const RoundRecord& round) {
    std::vector<std::string> included;
    for (const ParticipantRecord& p : round.participants) {
      if (p.status == "included") included.push_back(p.site_id);
    }
    return included;
  }

  // Checks every committed checkpoint against the mean update of the sites
  // its round record includes (FedAvg, weight 1 each, server rate 1).
  void ExpectCheckpointsFollowIncludedSites(const std::string& job_id) {
    ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
    std::vector<float> expected = initial_;
    for (const RoundRecord& round : rounds) {
      if (round.round == 0 || round.outcome != "completed") continue;
      const std::vector<std::string> included = Included(round);
      ASSERT_FALSE(included.empty());
      for (int64_t j = 0; j < kDimension; ++j) {
        double sum = 0;
        for (const std::string& site : included) sum += sites_.at(site).update[static_cast<size_t>(j)];
        expected[static_cast<size_t>(j)] += static_cast<float>(sum / static_cast<double>(included.size()));
      }
      ASSERT_OK_AND_ASSIGN(CheckpointRecord checkpoint, store_->GetCheckpoint(job_id, round.round));
      ASSERT_OK_AND_ASSIGN(Eigen::VectorXf parameters,
                           ParametersFromBytes(checkpoint.parameters, kDimension));
      for (int64_t j = 0; j < kDimension; ++j) {
        // The fixed-point codec quantises each site's update to 1/s, s >= 2^12.
        EXPECT_NEAR(parameters[j], expected[static_cast<size_t>(j)], 1e-3)
            << "round " << round.round << " parameter " << j;
      }
      auto metrics = nlohmann::json::parse(round.metrics_json);
      EXPECT_EQ(metrics["examples"].get<int64_t>(), 10 * static_cast<int64_t>(included.size()));
      EXPECT_NEAR(metrics["loss"].get<double>(), 0.5, 1e-6);
      EXPECT_NEAR(metrics["accuracy"].get<double>(), 0.7, 1e-6);
    }
  }

  // Rounds as "round/attempt outcome".
  std::vector<std::string> History(const std::string& job_id) {
    std::vector<std::string> history;
    auto rounds = store_->ListRounds(job_id);
    EXPECT_OK(rounds.status());
    if (!rounds.ok()) return history;
    for (const RoundRecord& r : *rounds) {
      history.push_back(absl::StrCat(r.round, "/", r.attempt, " ", r.outcome));
    }
    return history;
  }

  // Sites 1..5 take part; site 6 stays away unless a test connects it.
  void UseFiveSites() { sites_.at(TestFederation::Get().site_id(6)).connected = false; }

  TempDir dir_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<Mailboxes> mailboxes_ = std::make_unique<Mailboxes>();
  std::unique_ptr<SiteRegistry> registry_;
  std::unique_ptr<Revocations> revocations_;
  std::unique_ptr<JobRunner> runner_;
  std::map<std::string, Site> sites_;
  std::vector<float> initial_;
  int jobs_ = 0;
  int stale_refused_ = 0;
};

const std::string& SiteId(uint32_t i) { return TestFederation::Get().site_id(i); }

TEST_F(JobRunnerTest, RunsTheStatisticsRoundThenEveryTrainingRound) {
  UseFiveSites();
  const std::string job_id = SubmitApproved(MakeSpec());
  RunToEnd(job_id);
  const JobRecord job = Job(job_id);
  ASSERT_EQ(job.state, JobState::kCompleted) << job.state_reason;
  EXPECT_EQ(job.rounds_completed, 2);
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 completed", "2/1 completed"));

  // Federation-wide means from the summed statistics: age sums 420..500
  // over 10 records each, so the mean is (42 + 44 + 46 + 48 + 50) / 5 = 46.
  auto standardization = nlohmann::json::parse(job.standardization_json);
  EXPECT_NEAR(standardization["mean"][0].get<double>(), 46.0, 1e-9);
  EXPECT_NEAR(standardization["mean"][1].get<double>(), 27.0, 1e-9);
  // Every training task carries it.
  const Site& first = sites_.at(SiteId(1));
  ASSERT_THAT(first.tasks_seen, SizeIs(3));
  EXPECT_EQ(first.tasks_seen[2].standardization_json(), job.standardization_json);
  EXPECT_NE(first.tasks_seen[1].round_seed(), first.tasks_seen[2].round_seed());

  ExpectCheckpointsFollowIncludedSites(job_id);
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger(job_id));
  EXPECT_THAT(ledger, SizeIs(10));  // 2 training rounds x 5 sites
  EXPECT_EQ(runner_->WaitingReason(job_id), "");
}

// Where the one silent site stops, and whether its input is in the sum:
// a site that sent its masked input is summed even if it then goes quiet
// (its self-mask is removed with the other sites' shares); one that did not
// is left out (its pairwise masks are removed instead).
struct DropCase {
  Stage silent_from;
  bool included;
};

class JobRunnerDropoutTest : public JobRunnerTest,
                             public ::testing::WithParamInterface<DropCase> {};

TEST_P(JobRunnerDropoutTest, ARoundSurvivesASiteGoingSilentAtAnyStage) {
  UseFiveSites();
  const DropCase drop = GetParam();
  // Site 2 goes silent in training round 1 only.
  sites_.at(SiteId(2)).behaviour = [drop](uint32_t round, uint32_t) {
    return round == 1 ? Behaviour{drop.silent_from, ""} : Behaviour{};
  };
  const std::string job_id = SubmitApproved(MakeSpec());
  RunToEnd(job_id);
  ASSERT_EQ(Job(job_id).state, JobState::kCompleted) << Job(job_id).state_reason;
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 completed", "2/1 completed"));
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
  const std::vector<std::string> included = Included(rounds[1]);
  const bool site_included =
      std::find(included.begin(), included.end(), SiteId(2)) != included.end();
  EXPECT_EQ(site_included, drop.included) << tessera::v1::Stage_Name(drop.silent_from);
  if (!drop.included) {
    // The round's record says why the site is not in the sum: the stage it
    // went silent at ("STAGE_SHARE_KEYS" is the `share keys` stage).
    std::string stage = absl::AsciiStrToLower(
        absl::StripPrefix(tessera::v1::Stage_Name(drop.silent_from), "STAGE_"));
    std::replace(stage.begin(), stage.end(), '_', ' ');
    auto silent = std::find_if(rounds[1].participants.begin(), rounds[1].participants.end(),
                               [](const ParticipantRecord& p) { return p.site_id == SiteId(2); });
    ASSERT_NE(silent, rounds[1].participants.end());
    EXPECT_EQ(silent->status, "dropped");
    EXPECT_EQ(silent->detail,
              absl::StrCat("sent no `", stage, "` message before the stage deadline"));
  }
  EXPECT_THAT(Included(rounds[2]), SizeIs(5));
  ExpectCheckpointsFollowIncludedSites(job_id);
  // The central ledger holds exactly the included sites.
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger(job_id));
  std::set<std::string> round_one;
  for (const LedgerRecord& entry : ledger) {
    if (entry.round == 1) round_one.insert(entry.site_id);
  }
  EXPECT_EQ(round_one, std::set<std::string>(included.begin(), included.end()));
}

INSTANTIATE_TEST_SUITE_P(
    EveryStage, JobRunnerDropoutTest,
    ::testing::Values(DropCase{tessera::v1::STAGE_ADVERTISE_KEYS, false},
                      DropCase{tessera::v1::STAGE_SHARE_KEYS, false},
                      DropCase{tessera::v1::STAGE_MASKED_INPUT, false},
                      DropCase{tessera::v1::STAGE_CONSISTENCY_CHECK, true},
                      DropCase{tessera::v1::STAGE_UNMASK, true}),
    [](const ::testing::TestParamInfo<DropCase>& param) {
      return tessera::v1::Stage_Name(param.param.silent_from);
    });

TEST_F(JobRunnerTest, TooFewSurvivorsAbortTheAttemptAndTheRetryUsesFreshKeys) {
  UseFiveSites();
  // Two of five sites vanish at the masked-input stage of round 1's first
  // attempt: each survivor keeps 2 of its 4 neighbours, fewer than t = 3.
  for (uint32_t i : {3u, 4u}) {
    sites_.at(SiteId(i)).behaviour = [](uint32_t round, uint32_t attempt) {
      return round == 1 && attempt == 1 ? Behaviour{tessera::v1::STAGE_MASKED_INPUT, ""}
                                        : Behaviour{};
    };
  }
  const std::string job_id = SubmitApproved(MakeSpec());
  RunToEnd(job_id);
  ASSERT_EQ(Job(job_id).state, JobState::kCompleted) << Job(job_id).state_reason;
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 aborted", "1/2 completed",
                                           "2/1 completed"));
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
  EXPECT_THAT(rounds[1].reason,
              HasSubstr(absl::StrCat("sites missing at `masked input`: ", SiteId(3), ", ",
                                     SiteId(4))));
  // The sites were told, and the retry came with new public randomness.
  const Site& first = sites_.at(SiteId(1));
  EXPECT_THAT(first.aborts_seen, SizeIs(1));
  ASSERT_THAT(first.tasks_seen, SizeIs(4));
  EXPECT_EQ(first.tasks_seen[1].round().attempt(), 1u);
  EXPECT_EQ(first.tasks_seen[2].round().attempt(), 2u);
  EXPECT_NE(first.tasks_seen[1].round_seed(), first.tasks_seen[2].round_seed());
  ExpectCheckpointsFollowIncludedSites(job_id);
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger(job_id));
  EXPECT_THAT(ledger, SizeIs(10));  // nothing for the aborted attempt
}

TEST_F(JobRunnerTest, AJobFailsWhenEveryAttemptOfARoundFails) {
  UseFiveSites();
  for (uint32_t i : {1u, 2u}) {
    sites_.at(SiteId(i)).behaviour = [](uint32_t round, uint32_t) {
      return round == 1 ? Behaviour{tessera::v1::STAGE_SHARE_KEYS, ""} : Behaviour{};
    };
  }
  const std::string job_id = SubmitApproved(MakeSpec());
  RunToEnd(job_id);
  const JobRecord job = Job(job_id);
  ASSERT_EQ(job.state, JobState::kFailed);
  EXPECT_THAT(job.state_reason, HasSubstr("round 1 failed 3 times"));
  EXPECT_THAT(History(job_id),
              ElementsAre("0/1 completed", "1/1 aborted", "1/2 aborted", "1/3 aborted"));
  EXPECT_EQ(job.rounds_completed, 0);
}

TEST_F(JobRunnerTest, ARefusalIsRecordedWithItsReasonAndTheRoundGoesOn) {
  UseFiveSites();
  sites_.at(SiteId(5)).behaviour = [](uint32_t round, uint32_t) {
    return round == 2 ? Behaviour{std::nullopt, "epsilon budget of dataset cohort exhausted"}
                      : Behaviour{};
  };
  const std::string job_id = SubmitApproved(MakeSpec());
  RunToEnd(job_id);
  ASSERT_EQ(Job(job_id).state, JobState::kCompleted) << Job(job_id).state_reason;
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
  ASSERT_THAT(rounds, SizeIs(3));
  const auto& participants = rounds[2].participants;
  auto refused = std::find_if(participants.begin(), participants.end(),
                              [](const ParticipantRecord& p) { return p.site_id == SiteId(5); });
  ASSERT_NE(refused, participants.end());
  EXPECT_EQ(refused->status, "refused");
  EXPECT_THAT(refused->detail, HasSubstr("epsilon budget of dataset cohort exhausted"));
  EXPECT_THAT(Included(rounds[2]), SizeIs(4));
  ExpectCheckpointsFollowIncludedSites(job_id);
}

TEST_F(JobRunnerTest, AJobWaitsForEnoughCapableSitesAndSaysWhy) {
  JobSpec spec = MakeSpec();
  spec.min_sites = 6;
  spec.max_sites = 6;
  spec.secagg_threshold = 4;
  spec.model_kind = ModelKind::kMlp;
  spec.hidden_layers = {4};
  UseFiveSites();
  // Site 1 runs an agent that cannot train MLPs.
  sites_.at(SiteId(1)).capabilities = {kRoundProtocolCapability, "model/logistic", "privacy/none"};
  const std::string job_id = SubmitApproved(spec);
  for (int i = 0; i < 5; ++i) Pump();
  std::string reason = runner_->WaitingReason(job_id);
  EXPECT_THAT(reason, HasSubstr("4 connected site(s) offer dataset `cohort`"));
  EXPECT_THAT(reason, HasSubstr("at least 6"));
  EXPECT_THAT(reason, HasSubstr(absl::StrCat(SiteId(1), " (agent test lacks model/mlp)")));
  EXPECT_EQ(Job(job_id).state, JobState::kApproved);  // nothing has run
  for (const auto& [id, site] : sites_) EXPECT_THAT(site.tasks_seen, SizeIs(0)) << id;

  // The upgraded agent and a sixth site come: the job starts.
  sites_.at(SiteId(1)).capabilities = AgentCapabilities();
  sites_.at(SiteId(6)).connected = true;
  Pump();  // heartbeats, then the runner starts round 0
  Pump();  // the sites take their tasks
  EXPECT_EQ(runner_->WaitingReason(job_id), "");
  EXPECT_EQ(Job(job_id).state, JobState::kRunning);
  EXPECT_THAT(sites_.at(SiteId(6)).tasks_seen, SizeIs(1));
}

// Governance budgets: a site whose budget cannot cover the next round is
// passed over (recorded as excluded, with the reason); when that leaves too
// few sites the job waits and says why; a raised budget lets it go on.
TEST_F(JobRunnerTest, ASiteOverItsBudgetIsPassedOverOrTheJobWaits) {
  UseFiveSites();
  JobSpec spec = MakeSpec();
  spec.privacy_mode = PrivacyMode::kSite;
  spec.noise_multiplier = 1.0;
  spec.clip_norm = 1.0;
  spec.rounds = 3;
  spec.min_sites = 4;
  spec.max_sites = 5;
  // One and two rounds' epsilon for any site, from the same planner and
  // accountant the runner uses (composition is sublinear, so two rounds
  // cost less than twice one); site 1's budget lies between them.
  ASSERT_OK_AND_ASSIGN(privacy::PrivacyLedger one_round, RoundEvents(spec, kDimension, 1));
  ASSERT_OK_AND_ASSIGN(double per_round, agent::EpsilonOf(one_round, 1e-5));
  privacy::PrivacyLedger two_rounds = one_round;
  for (const privacy::LedgerEntry& entry : one_round.entries()) {
    ASSERT_OK(two_rounds.Add(entry.event, entry.count));
  }
  ASSERT_OK_AND_ASSIGN(double two, agent::EpsilonOf(two_rounds, 1e-5));
  ASSERT_GT(per_round, 0);
  ASSERT_GT(two, per_round);
  BudgetRecord budget{SiteId(1), kDataset, (per_round + two) / 2, 1e-5, "governance",
                      clock_->Now(), "test"};
  ASSERT_OK(store_->SetBudget(budget, Event("budget.set", SiteId(1))));
  const std::string job_id = SubmitApproved(spec);
  RunToEnd(job_id);
  ASSERT_EQ(Job(job_id).state, JobState::kCompleted) << Job(job_id).state_reason;
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
  ASSERT_THAT(rounds, SizeIs(4));
  EXPECT_THAT(Included(rounds[1]), SizeIs(5));
  for (size_t r = 2; r <= 3; ++r) {
    EXPECT_THAT(Included(rounds[r]), SizeIs(4)) << "round " << r;
    auto excluded = std::find_if(rounds[r].participants.begin(), rounds[r].participants.end(),
                                 [](const ParticipantRecord& p) { return p.site_id == SiteId(1); });
    ASSERT_NE(excluded, rounds[r].participants.end());
    EXPECT_EQ(excluded->status, "excluded");
    EXPECT_THAT(excluded->detail, HasSubstr("past its budget"));
  }
  // The central ledger never takes site 1 past its budget.
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger(job_id));
  ASSERT_OK_AND_ASSIGN(auto budgets, store_->ListBudgets());
  ASSERT_OK_AND_ASSIGN(auto spend, SummarizeSpend(budgets, ledger, SiteId(1)));
  ASSERT_THAT(spend, SizeIs(1));
  EXPECT_NEAR(spend[0].spent, per_round, 1e-9);
  EXPECT_LE(spend[0].spent, budget.epsilon);

  // A second job that needs all five sites waits for site 1's budget...
  spec.min_sites = 5;
  spec.secagg_threshold = 3;
  spec.rounds = 1;
  const std::string second = SubmitApproved(spec);
  // (Its statistics round releases no model update and needs no budget.)
  RunUntil([&] { return !Job(second).standardization_json.empty(); });
  for (int i = 0; i < 3; ++i) Pump();
  EXPECT_THAT(runner_->WaitingReason(second),
              HasSubstr("4 connected site(s) offer dataset `cohort` within their privacy budget"));
  EXPECT_THAT(runner_->WaitingReason(second),
              HasSubstr(absl::StrCat("passed over for their privacy budget: ", SiteId(1))));
  EXPECT_EQ(Job(second).rounds_completed, 0);
  EXPECT_FALSE(runner_->Progress(second).has_value());
  // ...until governance raises it.
  budget.epsilon = 2 * two;
  ASSERT_OK(store_->SetBudget(budget, Event("budget.set", SiteId(1))));
  RunToEnd(second);
  EXPECT_EQ(Job(second).state, JobState::kCompleted) << Job(second).state_reason;
}

TEST_F(JobRunnerTest, ACoordinatorStoppedMidRoundResumesWithoutReusingTheAttempt) {
  UseFiveSites();
  const std::string job_id = SubmitApproved(MakeSpec());
  // Round 1 commits; round 2 gets as far as the masked inputs.
  RunUntil([&] {
    auto progress = runner_->Progress(job_id);
    return progress.has_value() && progress->round() == 2 &&
           progress->stage() == tessera::v1::STAGE_MASKED_INPUT;
  });
  ASSERT_EQ(Job(job_id).rounds_completed, 1);
  CrashAndRestart();
  // The agents still hold round 2 attempt 1; the restarted coordinator
  // numbers its retry 2, so no agent mistakes it for the old one.
  RunToEnd(job_id);
  const JobRecord job = Job(job_id);
  ASSERT_EQ(job.state, JobState::kCompleted) << job.state_reason;
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 completed", "2/1 aborted",
                                           "2/2 completed"));
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
  EXPECT_EQ(rounds[2].reason, "the coordinator stopped during this attempt");
  EXPECT_THAT(rounds[2].participants, SizeIs(5));
  EXPECT_THAT(Included(rounds[3]), SizeIs(5));
  ExpectCheckpointsFollowIncludedSites(job_id);
  // No round counted twice in the central ledger.
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger(job_id));
  EXPECT_THAT(ledger, SizeIs(10));
  ASSERT_OK_AND_ASSIGN(AuditCheck audit, store_->VerifyAuditChain());
  EXPECT_FALSE(audit.first_bad.has_value()) << audit.problem;
}

TEST_F(JobRunnerTest, StoppingAJobAbortsItsRoundAndTellsItsSites) {
  UseFiveSites();
  const std::string job_id = SubmitApproved(MakeSpec());
  RunUntil([&] {
    auto progress = runner_->Progress(job_id);
    return progress.has_value() && progress->round() == 1 &&
           progress->stage() == tessera::v1::STAGE_SHARE_KEYS;
  });
  ASSERT_OK(runner_->StopJob(job_id, "wrong cohort", Event("job.stopped", job_id)));
  Pump();
  const JobRecord job = Job(job_id);
  EXPECT_EQ(job.state, JobState::kStopped);
  EXPECT_EQ(job.rounds_completed, 0);
  for (uint32_t i = 1; i <= 5; ++i) {
    EXPECT_THAT(sites_.at(SiteId(i)).aborts_seen, SizeIs(1)) << SiteId(i);
    EXPECT_THAT(sites_.at(SiteId(i)).rounds, SizeIs(0)) << SiteId(i);
  }
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 aborted"));
  // Nothing more happens, however long the federation waits.
  for (int i = 0; i < 5; ++i) {
    clock_->Advance(absl::Minutes(5));
    Pump();
  }
  EXPECT_THAT(History(job_id), SizeIs(2));
  EXPECT_FALSE(runner_->Progress(job_id).has_value());
}

// The disk fills up while round 2 is in its last stage: its commit fails
// and nothing of it is stored (one transaction). The job is not failed: it
// waits and says why, and no round starts while the disk stays full,
// however long. Once space returns the round is run again and the job
// completes; the lost attempt is on record with its reason, and does not
// count against max_attempts (1 here: counted, it would fail the job).
TEST_F(JobRunnerTest, AFullDiskPausesRoundsUntilSpaceReturns) {
  ::tessera::testing::FullDiskVfs::Install();
  CrashAndRestart();  // the store's file is now opened through the faulty VFS
  struct Refill {
    ~Refill() { ::tessera::testing::FullDiskVfs::SetFull(false); }
  } refill;
  UseFiveSites();
  JobSpec spec = MakeSpec();
  spec.max_attempts = 1;
  const std::string job_id = SubmitApproved(spec);
  RunUntil([&] {
    auto progress = runner_->Progress(job_id);
    return progress.has_value() && progress->round() == 2 &&
           progress->stage() == tessera::v1::STAGE_UNMASK;
  });
  ::tessera::testing::FullDiskVfs::SetFull(true);
  const long failed_before = ::tessera::testing::FullDiskVfs::FailedWrites();
  RunUntil([&] { return !runner_->Progress(job_id).has_value(); });
  for (int i = 0; i < 10; ++i) {
    clock_->Advance(absl::Minutes(1));
    Pump();
    EXPECT_FALSE(runner_->Progress(job_id).has_value()) << "a round started on a full disk";
  }
  EXPECT_GT(::tessera::testing::FullDiskVfs::FailedWrites(), failed_before);
  JobRecord job = Job(job_id);
  EXPECT_EQ(job.state, JobState::kRunning) << job.state_reason;
  EXPECT_EQ(job.rounds_completed, 1);
  EXPECT_THAT(runner_->WaitingReason(job_id),
              HasSubstr("paused: the coordinator cannot write its state"));
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 completed"));

  ::tessera::testing::FullDiskVfs::SetFull(false);
  RunToEnd(job_id);
  job = Job(job_id);
  ASSERT_EQ(job.state, JobState::kCompleted) << job.state_reason;
  EXPECT_EQ(runner_->WaitingReason(job_id), "");
  EXPECT_THAT(History(job_id), ElementsAre("0/1 completed", "1/1 completed", "2/1 aborted",
                                           "2/2 completed"));
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds(job_id));
  EXPECT_THAT(rounds[2].reason, HasSubstr(std::string(JobRunner::kStorageAbortReason)));
  ExpectCheckpointsFollowIncludedSites(job_id);
  // One ledger row per site per committed round, none for the lost attempt.
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger(job_id));
  EXPECT_THAT(ledger, SizeIs(10));
  ASSERT_OK_AND_ASSIGN(AuditCheck audit, store_->VerifyAuditChain());
  EXPECT_FALSE(audit.first_bad.has_value()) << audit.problem;
}

}  // namespace
}  // namespace tessera::coordinator
