// A whole federated job on 127.0.0.1 with real processes and certificates:
// a coordinator and three agents with their own cohorts; an ML lead submits
// a job with `tessera job submit`, governance approves it with `tessera job
// approve`, and the coordinator runs the statistics round and the training
// rounds through secure aggregation. The test reads the job's record over
// the Admin service and checks that the federation learned: the hold-out
// loss of the global model falls from round to round.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
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

constexpr char kJob[] = R"([job]
name = "outcome-risk"
description = "end-to-end test job"
dataset = "cohort"

[model]
kind = "logistic"

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
learning_rate = 0.2
local_epochs = 2
batch_size = 16

[rounds]
count = 4
min_sites = 3
max_sites = 3
stage_timeout_seconds = 30
max_attempts = 2

[privacy]
mode = "none"

[secure_aggregation]
threshold = 2
neighbours = 0
bit_width = 32
)";

class FederatedJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(kSites));
    const int sizes[] = {240, 400, 320};
    const double shifts[] = {-5, 0, 6};
    for (size_t i = 0; i < kSites.size(); ++i) {
      federation_->SetAgentSetup(
          kSites[i],
          {Cohort(sizes[i], shifts[i], static_cast<uint32_t>(11 + i)),
           "[policy]\nallow_non_private = true\n"});
      ASSERT_OK(federation_->StartAgent(kSites[i]));
    }
    ASSERT_OK(federation_->WaitForConnectedSites(kSites.size(), absl::Seconds(30)));
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

  std::string SubmitAndApprove() {
    const std::string job_file = federation_->dir() + "/job.toml";
    {
      std::ofstream out(job_file);
      out << kJob;
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

}  // namespace
}  // namespace tessera::testing
