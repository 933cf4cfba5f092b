// A whole federated job on 127.0.0.1 with real processes and certificates:
// a coordinator and three agents with their own cohorts; an ML lead submits
// a job with `tessera job submit`, governance approves it with `tessera job
// approve`, and the coordinator runs the statistics round and the training
// rounds through secure aggregation. The test reads the job's record over
// the Admin service and checks that the federation learned: the hold-out
// loss of the global model falls from round to round.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "coordinator/store.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sqlite3.h"
#include "tessera.grpc.pb.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "transport/tls.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kSites = {"gosh", "rfh", "uclh"};

// A cohort where the outcome depends on age, BMI and smoking through a
// logistic model (so logistic regression can learn it), different in size
// and case mix per site. Deterministic per seed.
std::string Cohort(int records, double age_shift, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> age(55 + age_shift, 12);
  std::normal_distribution<double> bmi(27, 4);
  std::bernoulli_distribution smoker(0.3);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::string csv = "age,bmi,smoker,outcome\n";
  for (int i = 0; i < records; ++i) {
    const double a = std::clamp(age(rng), 18.0, 99.0);
    const double b = std::clamp(bmi(rng), 15.0, 50.0);
    const bool s = smoker(rng);
    const double logit = 0.08 * (a - 55) + 0.15 * (b - 27) + 1.2 * (s ? 1 : 0) - 0.4;
    const bool outcome = uniform(rng) < 1 / (1 + std::exp(-logit));
    absl::StrAppend(&csv, static_cast<int>(a), ",", static_cast<int>(b * 10) / 10.0, ",",
                    s ? 1 : 0, ",", outcome ? 1 : 0, "\n");
  }
  return csv;
}

// The job the tests submit; the fields tests vary are in JobShape.
struct JobShape {
  int rounds = 4;
  int sites = 3;         // min_sites = max_sites
  int threshold = 2;     // of each site's sites - 1 neighbours (complete graph)
  std::string model = "kind = \"logistic\"";
  int stage_timeout_seconds = 30;
  int max_attempts = 2;
  int local_epochs = 2;
  double learning_rate = 0.2;
};

std::string JobToml(const JobShape& shape) {
  return absl::StrCat(R"([job]
name = "outcome-risk"
description = "end-to-end test job"
dataset = "cohort"

[model]
)", shape.model, R"(

[schema]
label = "outcome"
[schema.columns.age]
type = "numeric"
min = 18
max = 100
[schema.columns.bmi]
type = "numeric"
min = 10
max = 60
[schema.columns.smoker]
type = "binary"
[schema.columns.outcome]
type = "binary"

[split]
holdout_fraction = 0.25
seed = 7

[training]
optimizer = "sgd"
learning_rate = )", shape.learning_rate, R"(
local_epochs = )", shape.local_epochs, R"(
batch_size = 16

[rounds]
count = )", shape.rounds, R"(
min_sites = )", shape.sites, R"(
max_sites = )", shape.sites, R"(
stage_timeout_seconds = )", shape.stage_timeout_seconds, R"(
max_attempts = )", shape.max_attempts, R"(

[privacy]
mode = "none"

[secure_aggregation]
threshold = )", shape.threshold, R"(
neighbours = 0
bit_width = 32
)");
}

class FederatedJobTest : public ::testing::Test {
 protected:
  // A coordinator and one agent per site, each with its own cohort (sizes
  // from `sizes`, default 240/400/320/...).
  void StartFederation(const std::vector<std::string>& sites, std::vector<int> sizes = {}) {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(sites));
    const int default_sizes[] = {240, 400, 320, 280, 360};
    const double shifts[] = {-5, 0, 6, 3, -2};
    for (size_t i = 0; i < sites.size(); ++i) {
      const int size = i < sizes.size() ? sizes[i] : default_sizes[i % 5];
      federation_->SetAgentSetup(
          sites[i],
          {Cohort(size, shifts[i % 5], static_cast<uint32_t>(11 + i)),
           "[policy]\nallow_non_private = true\n", ""});
      ASSERT_OK(federation_->StartAgent(sites[i]));
    }
    ASSERT_OK(federation_->WaitForConnectedSites(sites.size(), absl::Seconds(30)));
  }

  // GetJob over the Admin service as the ML lead.
  absl::StatusOr<tessera::v1::GetJobResponse> GetJob(const std::string& job_id) {
    if (admin_ == nullptr) {
      transport::TlsFiles files{federation_->Pki("ca.pem"), federation_->Pki("person-ml-lead.pem"),
                                federation_->Pki("person-ml-lead.key")};
      auto credentials = transport::MakeChannelCredentials(files);
      if (!credentials.ok()) return credentials.status();
      admin_ = tessera::v1::Admin::NewStub(grpc::CreateChannel(federation_->address(), *credentials));
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    tessera::v1::GetJobRequest request;
    request.set_job_id(job_id);
    tessera::v1::GetJobResponse response;
    grpc::Status status = admin_->GetJob(&context, request, &response);
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    return response;
  }

  std::string SubmitAndApprove(const JobShape& shape = {}) {
    const std::string job_file = federation_->dir() + "/job.toml";
    {
      std::ofstream out(job_file);
      out << JobToml(shape);
    }
    auto submitted = federation_->Cli({"job", "submit", job_file}, "ml-lead", absl::Seconds(60));
    EXPECT_TRUE(submitted.ok() && submitted->exit_code == 0)
        << (submitted.ok() ? submitted->output : submitted.status().ToString());
    if (!submitted.ok()) return "";
    std::smatch match;
    const std::regex id("job-[0-9a-f]{12}");
    if (!std::regex_search(submitted->output, match, id)) {
      ADD_FAILURE() << "no job id in: " << submitted->output;
      return "";
    }
    const std::string job_id = match.str();
    auto approved = federation_->Cli({"job", "approve", job_id, "--allow-non-private", "--yes"},
                                     "governance");
    EXPECT_TRUE(approved.ok() && approved->exit_code == 0)
        << (approved.ok() ? approved->output : approved.status().ToString());
    return job_id;
  }

  // Polls the job every 20 ms until `ready` holds; false after `timeout`.
  bool WaitForJob(const std::string& job_id,
                  const std::function<bool(const tessera::v1::GetJobResponse&)>& ready,
                  absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      auto job = GetJob(job_id);
      if (job.ok() && ready(*job)) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  // The agent's own privacy ledger, read while it may be running.
  std::vector<agent::Participation> AgentLedger(const std::string& site) {
    auto ledger = agent::PrivacyLedgerStore::Open(federation_->AgentStateDir(site) + "/ledger.db");
    EXPECT_OK(ledger.status()) << site;
    if (!ledger.ok()) return {};
    auto entries = (*ledger)->List();
    EXPECT_OK(entries.status()) << site;
    return entries.ok() ? *entries : std::vector<agent::Participation>{};
  }

  bool AgentRecorded(const std::string& site, const std::string& job_id, int64_t round,
                     int64_t attempt) {
    for (const agent::Participation& entry : AgentLedger(site)) {
      if (entry.job_id == job_id && entry.round == round && entry.attempt == attempt) return true;
    }
    return false;
  }

  // Every site the coordinator summed in a completed round has that round
  // in its own ledger: privacy released is never unrecorded at the source.
  void ExpectIncludedSitesRecordedTheirRounds(const tessera::v1::GetJobResponse& job) {
    for (const auto& round : job.rounds()) {
      if (round.outcome() != "completed" || round.round() == 0) continue;
      for (const auto& participant : round.participants()) {
        if (participant.status() != "included") continue;
        EXPECT_TRUE(AgentRecorded(participant.site_id(), job.summary().job_id(), round.round(),
                                  round.attempt()))
            << participant.site_id() << " round " << round.round() << " attempt "
            << round.attempt();
      }
    }
  }

  // Each training round 1..rounds completed exactly once, and the central
  // ledger holds one row per included site of each.
  void ExpectEachRoundCommittedOnce(const tessera::v1::GetJobResponse& job, int rounds) {
    std::map<uint32_t, int> completed;
    size_t included = 0;
    for (const auto& round : job.rounds()) {
      if (round.outcome() != "completed") continue;
      ++completed[round.round()];
      if (round.round() == 0) continue;
      for (const auto& participant : round.participants()) {
        included += participant.status() == "included";
      }
    }
    for (uint32_t r = 0; r <= static_cast<uint32_t>(rounds); ++r) {
      EXPECT_EQ(completed[r], 1) << "round " << r;
    }
    ASSERT_OK_AND_ASSIGN(auto store, coordinator::Store::OpenReadOnly(
                                         federation_->dir() + "/coordinator-state/coordinator.db"));
    ASSERT_OK_AND_ASSIGN(auto ledger, store->ListLedger(job.summary().job_id()));
    EXPECT_EQ(ledger.size(), included);
    ASSERT_OK_AND_ASSIGN(coordinator::AuditCheck audit, store->VerifyAuditChain());
    EXPECT_FALSE(audit.first_bad.has_value()) << audit.problem;
  }

  // Polls the job until it is in a final state or `timeout` passes.
  tessera::v1::GetJobResponse WaitForEnd(const std::string& job_id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    tessera::v1::GetJobResponse last;
    while (absl::Now() < deadline) {
      auto job = GetJob(job_id);
      if (job.ok()) {
        last = *job;
        const std::string& state = job->summary().state();
        if (state == "completed" || state == "failed" || state == "stopped" ||
            state == "rejected") {
          return last;
        }
      }
      absl::SleepFor(absl::Milliseconds(300));
    }
    ADD_FAILURE() << "job did not finish; last state " << last.summary().state() << "\n"
                  << federation_->CoordinatorOutput();
    return last;
  }

  std::unique_ptr<LocalFederation> federation_;
  std::unique_ptr<tessera::v1::Admin::Stub> admin_;
};

TEST_F(FederatedJobTest, ThreeSitesTrainALogisticModelThatImprovesEveryRound) {
  StartFederation(kSites);
  const std::string job_id = SubmitAndApprove();
  ASSERT_FALSE(job_id.empty());
  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(150));
  ASSERT_EQ(job.summary().state(), "completed")
      << job.summary().state_reason() << "\n" << federation_->CoordinatorOutput();
  EXPECT_EQ(job.summary().rounds_completed(), 4u);

  // Round 0 (statistics) then rounds 1..4, each completed by all three sites.
  std::vector<double> losses;
  int statistics_rounds = 0;
  for (const auto& round : job.rounds()) {
    if (round.outcome() != "completed") continue;
    int included = 0;
    for (const auto& participant : round.participants()) included += participant.status() == "included";
    EXPECT_EQ(included, 3) << "round " << round.round();
    if (round.round() == 0) {
      ++statistics_rounds;
      continue;
    }
    auto metrics = nlohmann::json::parse(round.metrics_json());
    ASSERT_TRUE(metrics.contains("loss")) << round.metrics_json();
    // Every site's hold-out split is in the sum: 25% of 960 records, give
    // or take the split's rounding per site.
    EXPECT_NEAR(metrics["examples"].get<double>(), 240, 30);
    EXPECT_GT(metrics["auc"].get<double>(), 0.5);
    losses.push_back(metrics["loss"].get<double>());
  }
  EXPECT_EQ(statistics_rounds, 1);
  ASSERT_EQ(losses.size(), 4u);
  // Round k's metrics evaluate the model of round k-1 on every site's
  // hold-out data: the starting model is worse than the trained ones.
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_LT(losses[1], losses[0]);

  // Each site recorded each training round in its own ledger (no privacy
  // spent: mode "none", but the participation is on record).
  for (const std::string& site : kSites) {
    ASSERT_OK_AND_ASSIGN(auto ledger, agent::PrivacyLedgerStore::Open(
                                          federation_->AgentStateDir(site) + "/ledger.db"));
    ASSERT_OK_AND_ASSIGN(auto entries, ledger->List());
    EXPECT_EQ(entries.size(), 4u) << site;
  }
}


// The coordinator's per-caller rate limit refuses calls with "slow down and
// retry". Rounds of small models follow each other at once, so a busy
// federation reaches it: the agents must slow down, not drop out of rounds
// (they used to give up on a refused submission or parameter download).
TEST_F(FederatedJobTest, AgentsSlowDownForTheRateLimitInsteadOfDroppingOut) {
  ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(kSites));
  ASSERT_OK(federation_->StopCoordinator().status());
  federation_->SetCoordinatorExtraToml("[limits]\nrequests_per_second = 8\nburst = 12\n");
  ASSERT_OK(federation_->StartCoordinator());
  for (size_t i = 0; i < kSites.size(); ++i) {
    federation_->SetAgentSetup(kSites[i], {Cohort(240, 0, static_cast<uint32_t>(31 + i)),
                                           "[policy]\nallow_non_private = true\n", ""});
    ASSERT_OK(federation_->StartAgent(kSites[i]));
  }
  ASSERT_OK(federation_->WaitForConnectedSites(kSites.size(), absl::Seconds(30)));
  JobShape shape;
  shape.rounds = 6;
  shape.max_attempts = 1;  // a site dropping out would fail the job
  const std::string job_id = SubmitAndApprove(shape);
  ASSERT_FALSE(job_id.empty());
  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(150));
  ASSERT_EQ(job.summary().state(), "completed")
      << job.summary().state_reason() << "\n" << federation_->CoordinatorOutput();
  for (const auto& round : job.rounds()) {
    EXPECT_EQ(round.outcome(), "completed") << "round " << round.round();
    int included = 0;
    for (const auto& participant : round.participants()) included += participant.status() == "included";
    EXPECT_EQ(included, 3) << "round " << round.round();
  }
  // The limit really was reached (else this test shows nothing).
  EXPECT_THAT(federation_->CoordinatorOutput(), HasSubstr("reason=rate-limit"));
}


// kill -9 of the coordinator in the middle of a round: on restart the job
// resumes from the last committed round, the attempt that was cut short is
// recorded as such (and its number never reused), no round is counted twice
// and no ledger entry is lost or doubled; the agents reconnect by themselves.
TEST_F(FederatedJobTest, ACoordinatorKilledMidRoundResumesTheJob) {
  // uclh's many records make each round last long enough (its training) to
  // be caught in the middle; rounds of the small cohorts take milliseconds.
  StartFederation(kSites, {240, 400, 20000});
  JobShape shape;
  shape.max_attempts = 3;
  shape.model = "kind = \"mlp\"\nhidden = [64, 64]";
  const std::string job_id = SubmitAndApprove(shape);
  ASSERT_FALSE(job_id.empty());
  ASSERT_TRUE(WaitForJob(
      job_id,
      [](const tessera::v1::GetJobResponse& job) {
        return job.summary().rounds_completed() >= 2 && job.in_progress() &&
               job.progress().round() == 3 &&
               job.progress().stage() >= tessera::v1::STAGE_SHARE_KEYS;
      },
      absl::Seconds(120)))
      << federation_->CoordinatorOutput();
  ASSERT_OK(federation_->KillCoordinator());
  ASSERT_OK(federation_->StartCoordinator());

  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(150));
  ASSERT_EQ(job.summary().state(), "completed")
      << job.summary().state_reason() << "\n" << federation_->CoordinatorOutput();
  EXPECT_EQ(job.summary().rounds_completed(), 4u);
  ExpectEachRoundCommittedOnce(job, 4);
  // The cut-short attempt (round 3 attempt 1, or round 4's if round 3
  // committed just before the kill) is on record, and only that one.
  int interrupted = 0;
  for (const auto& round : job.rounds()) {
    if (round.outcome() != "aborted") continue;
    EXPECT_EQ(round.reason(), "the coordinator stopped during this attempt");
    EXPECT_GE(round.round(), 3u);
    ++interrupted;
  }
  EXPECT_LE(interrupted, 1);
  ExpectIncludedSitesRecordedTheirRounds(job);
}

// Privacy is recorded at the source before it can be spent: an agent whose
// ledger cannot be written sends no masked input, and an agent killed after
// writing its ledger, while its masked input is on the way, has the round on
// record whether or not the coordinator summed it.
TEST_F(FederatedJobTest, AnAgentSendsNoUpdateItHasNotRecorded) {
  const std::vector<std::string> sites = {"gosh", "rfh", "uclh", "kch"};
  // kch holds many records, so its training is slow enough to catch it
  // between writing its ledger and sending its update.
  StartFederation(sites, {240, 400, 320, 40000});
  JobShape shape;
  shape.rounds = 3;
  shape.sites = 4;
  shape.threshold = 2;  // each site has 3 neighbours: one site may drop out
  shape.stage_timeout_seconds = 12;
  shape.model = "kind = \"mlp\"\nhidden = [64, 64]";

  // Round 1: rfh's ledger is locked by another writer, from before the job
  // exists until round 1 is committed (the statistics round writes no
  // ledger entry), for longer than rfh's busy timeout: recording fails and
  // rfh must leave the round unsent.
  sqlite3* raw = nullptr;
  const std::string rfh_ledger = federation_->AgentStateDir("rfh") + "/ledger.db";
  ASSERT_EQ(sqlite3_open_v2(rfh_ledger.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> lock(raw, &sqlite3_close);
  ASSERT_EQ(sqlite3_exec(lock.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string job_id = SubmitAndApprove(shape);
  ASSERT_FALSE(job_id.empty());
  ASSERT_TRUE(WaitForJob(
      job_id, [](const auto& job) { return job.summary().rounds_completed() >= 1; },
      absl::Seconds(90)))
      << federation_->AgentOutput("rfh");
  ASSERT_EQ(sqlite3_exec(lock.get(), "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  lock.reset();
  EXPECT_FALSE(AgentRecorded("rfh", job_id, 1, 1));
  EXPECT_THAT(federation_->AgentOutput("rfh"), HasSubstr("round left"));

  // Round 2: the coordinator is frozen (SIGSTOP) once the masked-input
  // stage has begun and before kch, still training, has sent its update.
  // kch records the round, tries to send, and is killed; then the
  // coordinator thaws.
  ASSERT_TRUE(WaitForJob(
      job_id,
      [](const auto& job) {
        if (!job.in_progress() || job.progress().round() != 2 ||
            job.progress().stage() != tessera::v1::STAGE_MASKED_INPUT) {
          return false;
        }
        const auto& waiting = job.progress().waiting_for();
        return std::find(waiting.begin(), waiting.end(), "kch") != waiting.end();
      },
      absl::Seconds(90)))
      << federation_->CoordinatorOutput();
  ASSERT_OK(federation_->SignalCoordinator(SIGSTOP));
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  uint32_t attempt = 0;
  while (attempt == 0 && absl::Now() < deadline) {
    for (const agent::Participation& entry : AgentLedger("kch")) {
      if (entry.job_id == job_id && entry.round == 2) attempt = static_cast<uint32_t>(entry.attempt);
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_OK(federation_->KillAgent("kch"));
  ASSERT_OK(federation_->SignalCoordinator(SIGCONT));
  ASSERT_NE(attempt, 0u) << "kch never recorded round 2";

  // kch comes back and takes part in the last round.
  ASSERT_OK(federation_->StartAgent("kch"));
  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(150));
  ASSERT_EQ(job.summary().state(), "completed")
      << job.summary().state_reason() << "\n" << federation_->CoordinatorOutput();
  for (const auto& round : job.rounds()) {
    if (round.round() == 1 && round.outcome() == "completed") {
      for (const auto& participant : round.participants()) {
        if (participant.site_id() == "rfh") {
          EXPECT_NE(participant.status(), "included");
        }
      }
    }
  }
  ExpectEachRoundCommittedOnce(job, 3);
  ExpectIncludedSitesRecordedTheirRounds(job);
}

// A job that asks for more sites than the federation has waits, and `job
// show` says what it waits for.
TEST_F(FederatedJobTest, AJobAskingForMoreSitesThanExistWaitsAndSaysWhy) {
  StartFederation(kSites);
  JobShape shape;
  shape.sites = 5;
  shape.threshold = 3;
  const std::string job_id = SubmitAndApprove(shape);
  ASSERT_FALSE(job_id.empty());
  const std::string expected =
      "waiting for sites: 3 connected site(s) offer dataset `cohort`; the job needs at least 5";
  ASSERT_TRUE(WaitForJob(
      job_id, [&](const auto& job) { return job.summary().waiting_reason() == expected; },
      absl::Seconds(30)));
  ASSERT_OK_AND_ASSIGN(RunResult shown, federation_->Cli({"job", "show", job_id}, "ml-lead"));
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr(expected));
  ASSERT_OK_AND_ASSIGN(RunResult json, federation_->Cli({"job", "show", job_id, "--json"}, "ml-lead"));
  EXPECT_THAT(json.output, HasSubstr(expected));
  EXPECT_EQ(GetJob(job_id)->summary().state(), "approved");
}

// A model whose masked update is larger than gRPC's message limit: the
// agents send it with chunked Upload (hashed), the global parameters come
// down in chunks, and the round completes.
TEST_F(FederatedJobTest, AnUpdateLargerThanAMessageTravelsInChunks) {
  StartFederation(kSites);
  JobShape shape;
  shape.rounds = 1;
  shape.local_epochs = 1;
  shape.learning_rate = 0.01;
  // 3 -> 1600 -> 1400 -> 1: about 2.25 million parameters, 9 MB of 32-bit
  // words per masked update, more than the agent's 8 MiB inline limit.
  shape.model = "kind = \"mlp\"\nhidden = [1600, 1400]";
  const std::string job_id = SubmitAndApprove(shape);
  ASSERT_FALSE(job_id.empty());
  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(170));
  ASSERT_EQ(job.summary().state(), "completed")
      << job.summary().state_reason() << "\n" << federation_->CoordinatorOutput();
  EXPECT_GT(job.parameter_count(), 2'200'000u);
  ExpectEachRoundCommittedOnce(job, 1);
  // Each site's masked input arrived as an uploaded object of over 8 MiB.
  const std::string log = federation_->CoordinatorOutput();
  for (const std::string& site : kSites) {
    std::smatch match;
    const std::regex stored("object stored caller=" + site + " sha256=[0-9a-f]{64} bytes=([0-9]+)");
    ASSERT_TRUE(std::regex_search(log, match, stored)) << site << "\n" << log;
    EXPECT_GT(std::stoll(match[1].str()), 8ll << 20) << site;
  }
}

}  // namespace
}  // namespace tessera::testing
