// Signed round receipts end to end: three agents train a two-round job with
// record-level DP; each sends, with its masked input, a receipt signed with
// its site key. The test reads the coordinator's database read-only and
// checks that it holds one receipt per site per training round the site was
// included in (none for the statistics round), that each verifies against
// the federation CA independently of the coordinator, and that what each
// states equals the site's own ledger entry for that round (which the
// agent wrote before sending). Then it calls SubmitStage directly with a
// site's certificate: a receipt filed under another round or job, or
// another site's receipt, is refused with INVALID_ARGUMENT before the round
// logic sees it.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "coordinator/store.h"
#include "crypto/certificate.h"
#include "gmock/gmock.h"
#include "governance/receipt.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tessera.grpc.pb.h"
#include "tests/e2e/e2e_jobs.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "transport/peer.h"
#include "transport/tls.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kSites = {"gosh", "rfh", "uclh"};
constexpr int kRounds = 2;

// Records with an outcome that depends on age and BMI; sizes differ per
// site, so each site's sampling rate and step count differ too.
std::string Cohort(int records, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> age(55, 12);
  std::normal_distribution<double> bmi(27, 4);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::string csv = "age,bmi,outcome\n";
  for (int i = 0; i < records; ++i) {
    const double a = std::clamp(age(rng), 18.0, 99.0);
    const double b = std::clamp(bmi(rng), 15.0, 50.0);
    const double logit = 0.08 * (a - 55) + 0.15 * (b - 27);
    absl::StrAppend(&csv, static_cast<int>(a), ",", static_cast<int>(b), ",",
                    uniform(rng) < 1 / (1 + std::exp(-logit)) ? 1 : 0, "\n");
  }
  return csv;
}

// Record-level DP with a target of ε = 3 per trust over the job, at δ = 1e-5
// (docs/ml-lead-guide.md's [privacy] rules: mode, epsilon, delta, clip_norm).
constexpr char kJobToml[] = R"([job]
name = "receipts"
description = "end-to-end receipts test"
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
[schema.columns.outcome]
type = "binary"

[split]
holdout_fraction = 0.25
seed = 7

[training]
optimizer = "sgd"
learning_rate = 0.2
local_epochs = 1
batch_size = 16

[rounds]
count = 2
min_sites = 3
max_sites = 3
stage_timeout_seconds = 30
max_attempts = 2

[privacy]
mode = "record"
epsilon = 3.0
delta = 1e-5
clip_norm = 1.0

[secure_aggregation]
threshold = 2
neighbours = 0
bit_width = 32
)";

// Each agent allows up to ε = 4 at the job's δ, so the job's target of 3
// (reached over both rounds) is within its own policy.
constexpr char kPolicy[] =
    "[policy]\nmax_epsilon = 4.0\ndelta = 1e-5\nmin_noise_multiplier = 0.3\n"
    "max_clip_norm = 5.0\n";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ReceiptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int sizes[] = {240, 400, 320};
    std::map<std::string, LocalFederation::AgentSetup> setups;
    for (size_t i = 0; i < kSites.size(); ++i) {
      setups[kSites[i]] = {Cohort(sizes[i], static_cast<uint32_t>(21 + i)), kPolicy, ""};
    }
    ASSERT_OK_AND_ASSIGN(federation_, StartFederationWithAgents(kSites, setups));
  }

  std::string SubmitAndApprove() {
    const std::string job_id = SubmitJob(*federation_, kJobToml);
    if (job_id.empty()) return "";
    RunResult approved =
        RunCli(*federation_, {"job", "approve", job_id, "--yes"}, "governance", absl::Seconds(30));
    EXPECT_EQ(approved.exit_code, 0) << approved.output;
    return job_id;
  }

  // Polls the job's state over the Admin service until it is final.
  std::string WaitForEnd(const std::string& job_id, absl::Duration timeout) {
    transport::TlsFiles files{federation_->Pki("ca.pem"), federation_->Pki("person-ml-lead.pem"),
                              federation_->Pki("person-ml-lead.key")};
    auto credentials = transport::MakeChannelCredentials(files);
    EXPECT_OK(credentials.status());
    if (!credentials.ok()) return "";
    auto admin =
        tessera::v1::Admin::NewStub(grpc::CreateChannel(federation_->address(), *credentials));
    const absl::Time deadline = absl::Now() + timeout;
    std::string state;
    while (absl::Now() < deadline) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      tessera::v1::GetJobRequest request;
      request.set_job_id(job_id);
      tessera::v1::GetJobResponse response;
      if (admin->GetJob(&context, request, &response).ok()) {
        state = response.summary().state();
        if (state == "completed" || state == "failed" || state == "stopped" ||
            state == "rejected") {
          return state;
        }
      }
      absl::SleepFor(absl::Milliseconds(300));
    }
    ADD_FAILURE() << "job did not finish; last state " << state << "\n"
                  << federation_->CoordinatorOutput();
    return state;
  }

  std::unique_ptr<coordinator::Store> OpenStore() {
    auto store =
        coordinator::Store::OpenReadOnly(federation_->dir() + "/coordinator-state/coordinator.db");
    EXPECT_OK(store.status());
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::vector<agent::Participation> AgentLedger(const std::string& site) {
    auto ledger = agent::PrivacyLedgerStore::Open(federation_->AgentStateDir(site) + "/ledger.db");
    EXPECT_OK(ledger.status()) << site;
    if (!ledger.ok()) return {};
    auto entries = (*ledger)->List();
    EXPECT_OK(entries.status()) << site;
    return entries.ok() ? *entries : std::vector<agent::Participation>{};
  }

  // SubmitStage as `site`, with its own certificate.
  grpc::Status SubmitAs(const std::string& site, const tessera::v1::StageSubmission& submission) {
    transport::TlsFiles files{federation_->Pki("ca.pem"), federation_->Pki("site-" + site + ".pem"),
                              federation_->Pki("site-" + site + ".key")};
    auto credentials = transport::MakeChannelCredentials(files);
    if (!credentials.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "no credentials");
    auto stub =
        tessera::v1::Federation::NewStub(grpc::CreateChannel(federation_->address(), *credentials));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    tessera::v1::StageSubmissionResponse response;
    return stub->SubmitStage(&context, submission, &response);
  }

  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(ReceiptsTest, EachSiteFilesAVerifiableReceiptMatchingItsLedgerPerTrainingRound) {
  const std::string job_id = SubmitAndApprove();
  ASSERT_FALSE(job_id.empty());
  ASSERT_EQ(WaitForEnd(job_id, absl::Seconds(180)), "completed")
      << federation_->CoordinatorOutput();

  std::unique_ptr<coordinator::Store> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(coordinator::JobRecord job, store->GetJob(job_id));
  ASSERT_OK_AND_ASSIGN(std::vector<coordinator::RoundRecord> rounds, store->ListRounds(job_id));
  ASSERT_OK_AND_ASSIGN(std::vector<coordinator::ReceiptRecord> receipts,
                       store->ListReceipts(job_id));

  // Who took part in what: every site of every attempt, and who was
  // included in a completed training round.
  using Key = std::tuple<int64_t, int64_t, std::string>;  // round, attempt, site
  std::set<Key> participants, included;
  for (const coordinator::RoundRecord& round : rounds) {
    for (const coordinator::ParticipantRecord& participant : round.participants) {
      participants.insert({round.round, round.attempt, participant.site_id});
      if (round.round > 0 && round.outcome == "completed" && participant.status == "included") {
        included.insert({round.round, round.attempt, participant.site_id});
      }
    }
  }
  // Both training rounds completed with all three sites.
  EXPECT_EQ(included.size(), kSites.size() * kRounds);

  std::map<Key, const coordinator::ReceiptRecord*> by_key;
  for (const coordinator::ReceiptRecord& record : receipts) {
    const Key key{record.round, record.attempt, record.site_id};
    EXPECT_TRUE(by_key.emplace(key, &record).second) << "two receipts for one attempt";
    // Only training rounds, only from sites that took part in that attempt.
    EXPECT_GE(record.round, 1) << "a receipt for the statistics round";
    EXPECT_EQ(participants.count(key), 1u)
        << record.site_id << " filed a receipt for round " << record.round << " attempt "
        << record.attempt << " it was not part of";
  }
  for (const Key& key : included) {
    EXPECT_EQ(by_key.count(key), 1u) << "no receipt from " << std::get<2>(key) << " for round "
                                     << std::get<0>(key) << " attempt " << std::get<1>(key);
  }

  // Each verifies against the CA on its own, and says what the site's own
  // ledger says.
  ASSERT_OK_AND_ASSIGN(auto verifier,
                       governance::ReceiptVerifier::Create(ReadFile(federation_->Pki("ca.pem"))));
  std::map<std::string, std::map<int64_t, tessera::v1::RoundReceipt>> valid_by_site;
  for (const coordinator::ReceiptRecord& record : receipts) {
    SCOPED_TRACE(
        absl::StrCat(record.site_id, " round ", record.round, " attempt ", record.attempt));
    tessera::v1::SignedReceipt signed_receipt;
    signed_receipt.set_receipt(record.receipt);
    signed_receipt.set_signature(record.signature);
    signed_receipt.set_certificate_pem(record.certificate_pem);
    const governance::ReceiptVerdict verdict = verifier->Verify(
        signed_receipt, {record.job_id, record.round, record.attempt, record.site_id},
        record.received_at);
    ASSERT_TRUE(verdict.valid()) << verdict.detail;
    const tessera::v1::RoundReceipt& receipt = *verdict.receipt;

    // The signing certificate is the site's own (the one local-pki.sh
    // installed for it), and names the site the receipt is filed under.
    EXPECT_EQ(record.certificate_pem,
              ReadFile(federation_->Pki("site-" + record.site_id + ".pem")));
    ASSERT_OK_AND_ASSIGN(auto certificate, crypto::Certificate::FromPem(record.certificate_pem));
    ASSERT_OK_AND_ASSIGN(std::string common_name, certificate->SubjectCommonName());
    EXPECT_EQ(common_name, record.site_id);
    EXPECT_EQ(receipt.site_id(), record.site_id);

    // The job as the coordinator stores and the board approved it.
    EXPECT_EQ(receipt.spec_sha256(), job.spec_sha256);
    EXPECT_EQ(receipt.model_sha256(), job.model_sha256);
    EXPECT_EQ(receipt.dataset(), "cohort");
    EXPECT_EQ(receipt.privacy_mode(), "record");
    EXPECT_EQ(receipt.clip_norm(), 1.0);  // the job's clip_norm

    // The site's ledger entry for the same attempt: the events, ε after and
    // δ exactly, and the noise multiplier, sampling rate and steps of its
    // one DP-SGD step event repeated `steps` times.
    const agent::Participation* entry = nullptr;
    const std::vector<agent::Participation> ledger = AgentLedger(record.site_id);
    for (const agent::Participation& candidate : ledger) {
      if (candidate.job_id == job_id && candidate.round == record.round &&
          candidate.attempt == record.attempt) {
        entry = &candidate;
      }
    }
    ASSERT_NE(entry, nullptr) << "the receipt's round is not in the site's ledger";
    EXPECT_EQ(receipt.events_json(), agent::EventsToJson(entry->events));
    EXPECT_EQ(receipt.epsilon_after(), entry->epsilon_after);
    EXPECT_EQ(receipt.delta(), entry->delta);
    ASSERT_EQ(entry->events.entries().size(), 1u);
    const auto* step =
        std::get_if<privacy::PoissonGaussianEvent>(&entry->events.entries()[0].event);
    ASSERT_NE(step, nullptr);
    EXPECT_EQ(receipt.noise_multiplier(), step->noise_multiplier);
    EXPECT_EQ(receipt.sampling_rate(), step->sampling_rate);
    EXPECT_EQ(static_cast<int64_t>(receipt.steps()), entry->events.entries()[0].count);
    EXPECT_GT(receipt.noise_multiplier(), 0);
    EXPECT_GT(receipt.epsilon_after(), receipt.epsilon_before());
    EXPECT_LE(receipt.epsilon_after(), 3.0 + 1e-6);  // the job's target over both rounds
    valid_by_site[record.site_id][record.round] = receipt;
  }
  // A site's spend carries over: round 2 starts where round 1 ended.
  for (const std::string& site : kSites) {
    auto& by_round = valid_by_site[site];
    ASSERT_EQ(by_round.count(1), 1u) << site;
    ASSERT_EQ(by_round.count(2), 1u) << site;
    EXPECT_EQ(by_round[1].epsilon_before(), 0.0) << site;
    EXPECT_NEAR(by_round[2].epsilon_before(), by_round[1].epsilon_after(),
                1e-9 * by_round[1].epsilon_after())
        << site;
  }

  // SubmitStage refuses a receipt that is not the caller's own, for the
  // round it is filed with.
  ASSERT_EQ(by_key.count({1, 1, "gosh"}), 1u);
  ASSERT_EQ(by_key.count({1, 1, "rfh"}), 1u);
  const coordinator::ReceiptRecord* gosh_round_1 = by_key.at({1, 1, "gosh"});
  const coordinator::ReceiptRecord* rfh_round_1 = by_key.at({1, 1, "rfh"});
  auto submission = [&](const coordinator::ReceiptRecord& record, const std::string& filed_job,
                        uint32_t round) {
    tessera::v1::StageSubmission result;
    result.mutable_round()->set_job_id(filed_job);
    result.mutable_round()->set_round(round);
    result.mutable_round()->set_attempt(1);
    result.mutable_round()->set_stage(tessera::v1::STAGE_MASKED_INPUT);
    result.set_payload("masked input");
    result.mutable_receipt()->set_receipt(record.receipt);
    result.mutable_receipt()->set_signature(record.signature);
    result.mutable_receipt()->set_certificate_pem(record.certificate_pem);
    return result;
  };
  // gosh's round 1 receipt filed with round 2.
  grpc::Status moved = SubmitAs("gosh", submission(*gosh_round_1, job_id, 2));
  EXPECT_EQ(moved.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << moved.error_message();
  EXPECT_THAT(moved.error_message(), HasSubstr("site `gosh`"));
  EXPECT_THAT(moved.error_message(), HasSubstr("round 2"));
  // ... filed with another job.
  grpc::Status other_job = SubmitAs("gosh", submission(*gosh_round_1, "job-000000000000", 1));
  EXPECT_EQ(other_job.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << other_job.error_message();
  EXPECT_THAT(other_job.error_message(), HasSubstr("job-000000000000"));
  // rfh's receipt, filed by gosh under the right round.
  grpc::Status not_own = SubmitAs("gosh", submission(*rfh_round_1, job_id, 1));
  EXPECT_EQ(not_own.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << not_own.error_message();
  EXPECT_THAT(not_own.error_message(), HasSubstr("its own receipt"));
  // gosh's own receipt where it belongs passes the receipt check and reaches
  // the round logic, which says the round is over.
  grpc::Status late = SubmitAs("gosh", submission(*gosh_round_1, job_id, 1));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << late.error_message();
  EXPECT_THAT(late.error_message(), HasSubstr("not in progress"));

  // Nothing of that was stored.
  std::unique_ptr<coordinator::Store> after = OpenStore();
  ASSERT_NE(after, nullptr);
  ASSERT_OK_AND_ASSIGN(auto receipts_after, after->ListReceipts(job_id));
  EXPECT_EQ(receipts_after.size(), receipts.size());
}

}  // namespace
}  // namespace tessera::testing
