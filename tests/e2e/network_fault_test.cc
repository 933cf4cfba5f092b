// Network trouble and misbehaving hosts around a real federation on
// 127.0.0.1: one agent dials the coordinator through a TCP proxy of the
// test's own (tests/testing/tcp_fault_proxy.h) that black-holes, drops or
// delays its connection; an agent is frozen (SIGSTOP) across a stage
// deadline; an agent runs with its clock 10 minutes ahead, and its
// preflight check 10 minutes ahead and behind (libfaketime). What must
// hold each time: the rounds go on with the sites that answer, nothing is
// counted twice or lost, each site's own ledger agrees with the
// coordinator's, and the site that was cut off or late comes back and
// takes part in a later round.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "coordinator/store.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tessera.grpc.pb.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_fault_proxy.h"
#include "transport/tls.h"

namespace tessera::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kSites = {"gosh", "kch", "rfh", "uclh"};
// The site whose trouble each test makes.
const char kTroubled[] = "uclh";

// Debian's libfaketime (scripts/install-deps.sh), the variant for
// multithreaded programs: the agent runs gRPC's threads.
const char kFaketime[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

// A cohort where the outcome depends on age through a logistic model.
std::string Cohort(int records, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> age(55, 12);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::string csv = "age,outcome\n";
  for (int i = 0; i < records; ++i) {
    const double a = std::clamp(age(rng), 18.0, 99.0);
    const bool outcome = uniform(rng) < 1 / (1 + std::exp(-0.08 * (a - 55)));
    absl::StrAppend(&csv, static_cast<int>(a), ",", outcome ? 1 : 0, "\n");
  }
  return csv;
}

// Four sites, at least three per round: one may be missing from any
// round. Each site has three neighbours and needs two of them (threshold),
// so a round survives one site dropping out at any stage.
std::string JobToml(int rounds, int stage_timeout_seconds) {
  return absl::StrCat(R"([job]
name = "network-faults"
description = "end-to-end fault-injection job"
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

[split]
holdout_fraction = 0.25
seed = 7

[training]
optimizer = "sgd"
learning_rate = 0.2
local_epochs = 1
batch_size = 16

[rounds]
count = )", rounds, R"(
min_sites = 3
max_sites = 4
stage_timeout_seconds = )", stage_timeout_seconds, R"(
max_attempts = 3

[privacy]
mode = "none"

[secure_aggregation]
threshold = 2
neighbours = 0
bit_width = 32
)");
}

bool Included(const tessera::v1::RoundSummary& round, const std::string& site) {
  for (const auto& participant : round.participants()) {
    if (participant.site_id() == site) return participant.status() == "included";
  }
  return false;
}

class NetworkFaultTest : public ::testing::Test {
 protected:
  // The coordinator and one agent per site of kSites, with `env` added to
  // the agents' environment by site; kTroubled holds `troubled_records`
  // records when given.
  void StartFederation(const std::map<std::string, std::map<std::string, std::string>>& env = {},
                       int troubled_records = 0) {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(kSites, /*reuse_pki=*/true));
    for (size_t i = 0; i < kSites.size(); ++i) {
      LocalFederation::AgentSetup setup;
      const int records = kSites[i] == kTroubled && troubled_records > 0
                              ? troubled_records
                              : 240 + 40 * static_cast<int>(i);
      setup.cohort_csv = Cohort(records, static_cast<uint32_t>(11 + i));
      setup.extra_toml = "[policy]\nallow_non_private = true\n";
      federation_->SetAgentSetup(kSites[i], setup);
      auto site_env = env.find(kSites[i]);
      ASSERT_OK(federation_->StartAgent(kSites[i], site_env == env.end()
                                                       ? std::map<std::string, std::string>{}
                                                       : site_env->second));
    }
    ASSERT_OK(federation_->WaitForConnectedSites(kSites.size(), absl::Seconds(30)))
        << federation_->AgentOutput(kTroubled);
  }

  // A proxy in front of the coordinator, for the troubled agent.
  void StartProxyAndFederation() {
    // The coordinator's port is only known once it runs, and the proxy
    // must exist before the agent starts: start the federation's PKI and
    // coordinator, then the proxy, then the agents.
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(kSites, /*reuse_pki=*/true));
    ASSERT_OK_AND_ASSIGN(proxy_, TcpFaultProxy::Start("127.0.0.1", federation_->port()));
    for (size_t i = 0; i < kSites.size(); ++i) {
      LocalFederation::AgentSetup setup;
      setup.cohort_csv = Cohort(240 + 40 * static_cast<int>(i), static_cast<uint32_t>(11 + i));
      setup.extra_toml = "[policy]\nallow_non_private = true\n";
      if (kSites[i] == kTroubled) {
        setup.coordinator_address = proxy_->address();
      }
      federation_->SetAgentSetup(kSites[i], setup);
      ASSERT_OK(federation_->StartAgent(kSites[i]));
    }
    ASSERT_OK(federation_->WaitForConnectedSites(kSites.size(), absl::Seconds(30)))
        << federation_->AgentOutput(kTroubled);
  }

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

  std::string SubmitAndApprove(int rounds, int stage_timeout_seconds) {
    const std::string job_file = federation_->dir() + "/job.toml";
    {
      std::ofstream out(job_file);
      out << JobToml(rounds, stage_timeout_seconds);
    }
    auto submitted = federation_->Cli({"job", "submit", job_file}, "ml-lead", absl::Seconds(60));
    EXPECT_TRUE(submitted.ok() && submitted->exit_code == 0)
        << (submitted.ok() ? submitted->output : submitted.status().ToString());
    if (!submitted.ok()) return "";
    std::smatch match;
    if (!std::regex_search(submitted->output, match, std::regex("job-[0-9a-f]{12}"))) {
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

  tessera::v1::GetJobResponse WaitForEnd(const std::string& job_id, absl::Duration timeout) {
    tessera::v1::GetJobResponse last;
    WaitForJob(
        job_id,
        [&](const tessera::v1::GetJobResponse& job) {
          last = job;
          const std::string& state = job.summary().state();
          return state == "completed" || state == "failed" || state == "stopped";
        },
        timeout);
    return last;
  }

  // Waits for a round of `job_id` at or after `first_round` to be in
  // progress with kTroubled among its participants still owing a message,
  // and returns that round's number (0 when none came).
  uint32_t WaitForRoundAwaitingTroubled(const std::string& job_id, uint32_t first_round) {
    uint32_t caught = 0;
    WaitForJob(
        job_id,
        [&](const tessera::v1::GetJobResponse& job) {
          if (!job.in_progress() || job.progress().round() < first_round) return false;
          const auto& waiting = job.progress().waiting_for();
          if (std::find(waiting.begin(), waiting.end(), kTroubled) == waiting.end()) return false;
          caught = job.progress().round();
          return true;
        },
        absl::Seconds(60));
    return caught;
  }

  // After the job: each round 0..rounds completed exactly once; every
  // site included in a completed training round has that round and
  // attempt in its own ledger; the coordinator's ledger holds exactly the
  // (round, site) pairs it included; a site's own ledger holds no round
  // the coordinator counted it in twice, and any extra entry it holds (a
  // round it recorded but whose update came too late) is one the
  // coordinator did not include it in.
  void ExpectLedgersAgree(const tessera::v1::GetJobResponse& job, int rounds) {
    const std::string& job_id = job.summary().job_id();
    std::map<uint32_t, int> completed;
    std::set<std::tuple<int64_t, int64_t, std::string>> included;  // round, attempt, site
    std::set<std::pair<int64_t, std::string>> included_rounds;     // round, site
    for (const auto& round : job.rounds()) {
      if (round.outcome() != "completed") continue;
      ++completed[round.round()];
      if (round.round() == 0) continue;
      for (const auto& participant : round.participants()) {
        if (participant.status() != "included") continue;
        included.insert({round.round(), round.attempt(), participant.site_id()});
        included_rounds.insert({round.round(), participant.site_id()});
      }
    }
    for (uint32_t r = 0; r <= static_cast<uint32_t>(rounds); ++r) {
      EXPECT_EQ(completed[r], 1) << "round " << r;
    }
    ASSERT_OK_AND_ASSIGN(auto store, coordinator::Store::OpenReadOnly(
                                         federation_->dir() + "/coordinator-state/coordinator.db"));
    ASSERT_OK_AND_ASSIGN(auto central, store->ListLedger(job_id));
    std::set<std::pair<int64_t, std::string>> central_rounds;
    for (const coordinator::LedgerRecord& entry : central) {
      EXPECT_TRUE(central_rounds.insert({entry.round, entry.site_id}).second)
          << "round " << entry.round << " of " << entry.site_id << " is in the central ledger twice";
    }
    EXPECT_EQ(central_rounds, included_rounds);
    for (const std::string& site : kSites) {
      ASSERT_OK_AND_ASSIGN(auto ledger, agent::PrivacyLedgerStore::Open(
                                            federation_->AgentStateDir(site) + "/ledger.db"));
      ASSERT_OK_AND_ASSIGN(auto entries, ledger->List());
      std::set<std::pair<int64_t, int64_t>> own;
      for (const agent::Participation& entry : entries) {
        if (entry.job_id != job_id) continue;
        EXPECT_TRUE(own.insert({entry.round, entry.attempt}).second)
            << site << " recorded round " << entry.round << " attempt " << entry.attempt << " twice";
      }
      for (const auto& [r, a, s] : included) {
        if (s == site) {
          EXPECT_EQ(own.count({r, a}), 1u) << site << " round " << r << " attempt " << a;
        }
      }
    }
    ASSERT_OK_AND_ASSIGN(coordinator::AuditCheck audit, store->VerifyAuditChain());
    EXPECT_FALSE(audit.first_bad.has_value()) << audit.problem;
  }

  // The first completed round at or after `from` that left kTroubled out,
  // and the first completed one after it that included it; -1 for none.
  static std::pair<int64_t, int64_t> LeftOutThenBack(const tessera::v1::GetJobResponse& job,
                                                     uint32_t from) {
    int64_t left_out = -1;
    int64_t back = -1;
    for (const auto& round : job.rounds()) {
      if (round.outcome() != "completed" || round.round() < from) continue;
      if (left_out < 0 && !Included(round, kTroubled)) left_out = round.round();
      if (left_out >= 0 && round.round() > left_out && back < 0 && Included(round, kTroubled)) {
        back = round.round();
      }
    }
    return {left_out, back};
  }

  std::string Describe(const tessera::v1::GetJobResponse& job) {
    std::string text = absl::StrCat("state ", job.summary().state(), " (",
                                     job.summary().state_reason(), ")\n");
    for (const auto& round : job.rounds()) {
      absl::StrAppend(&text, "round ", round.round(), " attempt ", round.attempt(), " ",
                      round.outcome(), " ", round.reason(), ":");
      for (const auto& p : round.participants()) {
        absl::StrAppend(&text, " ", p.site_id(), "=", p.status(),
                        p.detail().empty() ? "" : "(" + p.detail() + ")");
      }
      absl::StrAppend(&text, "\n");
    }
    return text;
  }

  std::unique_ptr<LocalFederation> federation_;
  std::unique_ptr<TcpFaultProxy> proxy_;
  std::unique_ptr<tessera::v1::Admin::Stub> admin_;
};

// The cut lasts longer than a stage deadline: the round in flight, and the
// next one (which still selects the site: it was seen within the liveness
// window), go on without it; once the link is back the agent reconnects by
// itself and takes part again.
class NetworkCutTest : public NetworkFaultTest,
                       public ::testing::WithParamInterface<TcpFaultProxy::Mode> {};

TEST_P(NetworkCutTest, RoundsGoOnWithoutTheCutSiteWhichRejoinsWhenTheLinkIsBack) {
  StartProxyAndFederation();
  // Enough rounds for the site to be back before the job ends: after a
  // drop the agent's channel has been seen to take 20-30 s to connect
  // again (each round meanwhile waits one stage deadline for it).
  constexpr int kRounds = 12;
  constexpr int kStageTimeoutSeconds = 4;
  const std::string job_id = SubmitAndApprove(kRounds, kStageTimeoutSeconds);
  ASSERT_FALSE(job_id.empty());

  const uint32_t cut_round = WaitForRoundAwaitingTroubled(job_id, 2);
  ASSERT_NE(cut_round, 0u) << federation_->CoordinatorOutput();
  GetParam() == TcpFaultProxy::Mode::kBlackHole ? proxy_->BlackHole() : proxy_->Drop();
  const int64_t accepted_before_restore = proxy_->connections_accepted();
  // Longer than a stage deadline, so at least one stage closes without it.
  absl::SleepFor(absl::Seconds(kStageTimeoutSeconds) * 2.5);
  proxy_->Pass();

  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(120));
  ASSERT_EQ(job.summary().state(), "completed") << Describe(job) << federation_->CoordinatorOutput();
  EXPECT_EQ(job.summary().rounds_completed(), static_cast<uint32_t>(kRounds));
  const auto [left_out, back] = LeftOutThenBack(job, cut_round);
  EXPECT_GE(left_out, 0) << "no round went on without " << kTroubled << "\n" << Describe(job);
  EXPECT_GE(back, 0) << kTroubled << " never took part again\n"
                      << Describe(job) << federation_->AgentOutput(kTroubled)
                      << federation_->CoordinatorOutput();
  // Every round left out of was completed by the other three.
  for (const auto& round : job.rounds()) {
    if (round.outcome() != "completed" || Included(round, kTroubled)) continue;
    for (const std::string& site : kSites) {
      if (site != kTroubled) {
        EXPECT_TRUE(Included(round, site)) << site << "\n" << Describe(job);
      }
    }
  }
  if (GetParam() == TcpFaultProxy::Mode::kDrop) {
    // The agent dialled again after the reset (its first connection died).
    EXPECT_GT(proxy_->connections_accepted(), accepted_before_restore);
  }
  ExpectLedgersAgree(job, kRounds);
  ASSERT_OK_AND_ASSIGN(auto results, federation_->Stop(absl::Seconds(30)));
  for (const auto& [name, result] : results) EXPECT_EQ(result.exit_code, 0) << name << result.output;
}

INSTANTIATE_TEST_SUITE_P(BlackHoleAndDrop, NetworkCutTest,
                         ::testing::Values(TcpFaultProxy::Mode::kBlackHole,
                                           TcpFaultProxy::Mode::kDrop),
                         [](const ::testing::TestParamInfo<TcpFaultProxy::Mode>& mode) {
                           return mode.param == TcpFaultProxy::Mode::kBlackHole ? "BlackHole"
                                                                                : "Drop";
                         });

// A slow link (well below the stage deadline) slows the rounds but leaves
// no site out.
TEST_F(NetworkFaultTest, ADelayBelowTheDeadlineLeavesNoSiteOut) {
  StartProxyAndFederation();
  // Every message to and from the site, and every model download, takes
  // 200 ms longer; a stage deadline is 75 round trips.
  proxy_->Delay(absl::Milliseconds(100));
  constexpr int kRounds = 2;
  const std::string job_id = SubmitAndApprove(kRounds, 15);
  ASSERT_FALSE(job_id.empty());
  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(150));
  ASSERT_EQ(job.summary().state(), "completed") << Describe(job) << federation_->CoordinatorOutput();
  for (const auto& round : job.rounds()) {
    EXPECT_EQ(round.outcome(), "completed") << Describe(job);
    for (const std::string& site : kSites) {
      EXPECT_TRUE(Included(round, site)) << site << "\n" << Describe(job);
    }
  }
  ExpectLedgersAgree(job, kRounds);
}

// An agent frozen (SIGSTOP) past a stage deadline: the round goes on
// without it and says why; when it thaws, what it sends for the closed
// stage is refused and counted nowhere, nothing crashes, and it takes part
// in a later round. It is frozen before the job is submitted: a whole job
// of these cohorts takes under a second (even 40000 records train in tens
// of milliseconds), too fast to freeze a site reliably in mid-round, and
// the coordinator still selects it, as it heartbeated within the liveness
// window.
TEST_F(NetworkFaultTest, AnAgentLateBeyondTheDeadlineIsLeftOutThenRejoins) {
  StartFederation();
  constexpr int kRounds = 3;
  constexpr int kStageTimeoutSeconds = 4;
  ASSERT_OK(federation_->SignalAgent(kTroubled, SIGSTOP));
  const std::string job_id = SubmitAndApprove(kRounds, kStageTimeoutSeconds);
  ASSERT_FALSE(job_id.empty());
  const uint32_t late_round = 0;
  absl::SleepFor(absl::Seconds(kStageTimeoutSeconds) * 1.5);
  ASSERT_OK(federation_->SignalAgent(kTroubled, SIGCONT));

  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(120));
  ASSERT_EQ(job.summary().state(), "completed") << Describe(job) << federation_->CoordinatorOutput();
  const auto [left_out, back] = LeftOutThenBack(job, late_round);
  ASSERT_GE(left_out, 0) << Describe(job) << federation_->AgentOutput(kTroubled)
                           << federation_->CoordinatorOutput();
  EXPECT_GE(back, 0) << Describe(job) << federation_->AgentOutput(kTroubled);
  // `tessera job show` names the site left out, and why.
  ASSERT_OK_AND_ASSIGN(RunResult shown, federation_->Cli({"job", "show", job_id}, "ml-lead"));
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr(absl::StrCat(kTroubled, " dropped (")));
  EXPECT_THAT(shown.output, HasSubstr("before the stage deadline"));
  ExpectLedgersAgree(job, kRounds);
  ASSERT_OK_AND_ASSIGN(auto results, federation_->Stop(absl::Seconds(30)));
  for (const auto& [name, result] : results) EXPECT_EQ(result.exit_code, 0) << name << result.output;
}

// Agents whose clocks are 10 minutes off the coordinator's. Rounds must not
// depend on the sites agreeing on the time: the coordinator keeps the stage
// deadlines, and an agent measures how long it has waited on its own clock
// (it used to compare its clock with the coordinator's absolute deadline,
// and an agent 10 minutes ahead forgot every round as soon as it was
// given). Certificates made minutes ago must be usable by a clock that is
// behind. `tessera-agent check` names the skew and fails it.
//
// libfaketime fakes the time a process reads, but not the absolute
// timeouts abseil hands to the kernel's futex: in a faked agent a timed
// wait lasts 10 minutes longer (clock ahead) or returns at once (clock
// behind). So the agent ahead runs the whole job (its one heartbeat keeps
// it live for the coordinator's 60 s window, longer than this test; its
// rounds need no timed wait), while the clock behind is tried with
// `tessera-agent check`, which makes one mutual-TLS heartbeat and waits for
// nothing: a running agent behind would spin on its waits and be rate
// limited.
TEST_F(NetworkFaultTest, AnAgentWithItsClockTenMinutesOffTakesPartInEveryRound) {
  ASSERT_EQ(::access(kFaketime, R_OK), 0)
      << kFaketime << " is missing: run scripts/install-deps.sh (package libfaketime)";
  auto skewed = [](const std::string& offset) {
    return std::map<std::string, std::string>{{"LD_PRELOAD", kFaketime},
                                              {"FAKETIME", offset},
                                              // gRPC's timers run on the
                                              // monotonic clock: leave it.
                                              {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}};
  };
  StartFederation({{kTroubled, skewed("+10m")}});
  constexpr int kRounds = 2;
  const std::string job_id = SubmitAndApprove(kRounds, 10);
  ASSERT_FALSE(job_id.empty());
  tessera::v1::GetJobResponse job = WaitForEnd(job_id, absl::Seconds(50));
  ASSERT_EQ(job.summary().state(), "completed") << Describe(job) << federation_->CoordinatorOutput();
  for (const auto& round : job.rounds()) {
    EXPECT_EQ(round.outcome(), "completed") << Describe(job);
    for (const std::string& site : kSites) {
      EXPECT_TRUE(Included(round, site)) << site << "\n"
                                         << Describe(job) << federation_->AgentOutput(site);
    }
  }
  ExpectLedgersAgree(job, kRounds);
  EXPECT_THAT(federation_->AgentOutput(kTroubled), Not(HasSubstr("round forgotten")));

  // The preflight check, 10 minutes ahead (uclh) and behind (kch): it
  // reaches the coordinator over mutual TLS either way, and names the skew.
  for (const auto& [site, offset, words] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {kTroubled, "+10m", "ahead of"}, {"kch", "-10m", "behind"}}) {
    const std::string config = federation_->dir() + "/agent-" + site + ".toml";
    ASSERT_OK_AND_ASSIGN(RunResult check,
                         RunCommand({Binaries::Agent(), "check", "--config", config},
                                    absl::Seconds(60), skewed(offset)));
    EXPECT_THAT(check.output, ContainsRegex("OK +coordinator")) << check.output;
    // 10 minutes, give or take the milliseconds of the call.
    EXPECT_THAT(check.output, ContainsRegex(absl::StrCat(
                                  "FAIL +clock +this server's clock is (10m|9m59\\.[0-9]+s|"
                                  "10m0\\.[0-9]+s) ",
                                  words)))
        << check.output;
    EXPECT_EQ(check.exit_code, 1) << check.output;  // beyond kClockSkewFailure (5 min)
  }
}

}  // namespace
}  // namespace tessera::testing
