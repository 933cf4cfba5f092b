// Faults injected into a real federation on 127.0.0.1 (real processes and
// certificates): an agent SIGKILLed in each of the five secure-aggregation
// stages and started again, the coordinator SIGKILLed in each stage and
// started again, and the coordinator's state directory filling up.
//
// A round of these small cohorts takes milliseconds, so a stage is caught
// with the dropout controller of `tessera simulate --dropout`
// (coordinator/cli/simulate_dropouts.h): it holds the round in lockstep with
// SIGSTOP/SIGCONT until the victim is stopped and is the only site that still
// owes the planned stage's message, and only then kills. For the coordinator
// tests the same controller decides the moment, and the "kill" takes the
// coordinator down instead of the victim agent, so the coordinator dies with
// every other site's message of that stage in.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "coordinator/cli/simulate_dropouts.h"
#include "coordinator/store.h"
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

using cli::AgentControl;
using cli::DropoutController;
using cli::PlannedDropout;
using cli::RoundObservation;

const std::vector<std::string> kSites = {"gosh", "kch", "rfh", "uclh"};

// Binary features only, so the job has no statistics round and its first
// round is a training round the controller sets up before the job starts
// (rounds follow each other without a pause: a round that starts straight
// after another cannot be set up from its first stage).
//
// Four sites on the complete graph (each has 3 neighbours) with threshold
// 2: a round survives n - 1 - t = 1 site dropping out (docs/design.md,
// "Secure aggregation"). Threshold 3 would tolerate none.
std::string JobToml(int rounds, int stage_timeout_seconds) {
  return absl::StrCat(R"([job]
name = "fault-injection"
description = "end-to-end fault injection"
dataset = "cohort"

[model]
kind = "logistic"

[schema]
label = "outcome"
[schema.columns.smoker]
type = "binary"
[schema.columns.outcome]
type = "binary"

[split]
holdout_fraction = 0.25
seed = 7

[training]
optimizer = "sgd"
learning_rate = 0.1
local_epochs = 1
batch_size = 16

[rounds]
count = )", rounds, R"(
min_sites = 4
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

RoundObservation Observe(const tessera::v1::GetJobResponse& job) {
  RoundObservation observation;
  const std::string& state = job.summary().state();
  observation.final = state == "completed" || state == "failed" || state == "stopped" ||
                      state == "rejected";
  observation.in_progress = job.in_progress();
  observation.round = job.progress().round();
  observation.attempt = job.progress().attempt();
  observation.stage = static_cast<int>(job.progress().stage());
  observation.pending.assign(job.progress().waiting_for().begin(),
                             job.progress().waiting_for().end());
  for (const auto& round : job.rounds()) {
    if (round.outcome() == "completed") {
      observation.last_completed_round =
          std::max<int64_t>(observation.last_completed_round, round.round());
    }
  }
  return observation;
}

// The controller's hands on the agents; what a "kill" does is the test's.
class Control final : public AgentControl {
 public:
  Control(LocalFederation& federation, std::function<absl::Status(const std::string&)> kill)
      : federation_(federation), kill_(std::move(kill)) {}
  absl::Status Pause(const std::string& site) override {
    return federation_.SignalAgent(site, SIGSTOP);
  }
  absl::Status Resume(const std::string& site) override {
    return federation_.SignalAgent(site, SIGCONT);
  }
  absl::Status KillAndRestart(const std::string& site) override { return kill_(site); }

 private:
  LocalFederation& federation_;
  std::function<absl::Status(const std::string&)> kill_;
};

class FaultInjectionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (mounted_.empty()) return;
    // Detached at once; the kernel frees it when the processes (killed
    // with the federation, next) have closed their files on it.
    if (::umount2(mounted_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "cannot unmount " << mounted_ << ": " << std::strerror(errno);
    }
    federation_.reset();
  }

  void StartFederation() {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(kSites, /*reuse_pki=*/true));
    StartAgents();
  }

  void StartAgents() {
    std::string cohort = "smoker,outcome\n";
    for (int i = 0; i < 150; ++i) absl::StrAppend(&cohort, i % 3 == 0 ? 1 : 0, ",", i % 2, "\n");
    for (const std::string& site : kSites) {
      federation_->SetAgentSetup(site, {cohort, "[policy]\nallow_non_private = true\n", ""});
      ASSERT_OK(federation_->StartAgent(site));
    }
    ASSERT_OK(federation_->WaitForConnectedSites(kSites.size(), absl::Seconds(30)));
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
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    tessera::v1::GetJobRequest request;
    request.set_job_id(job_id);
    tessera::v1::GetJobResponse response;
    grpc::Status status = admin_->GetJob(&context, request, &response);
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    return response;
  }

  std::string Submit(int rounds, int stage_timeout_seconds) {
    const std::string job_file = federation_->dir() + "/job.toml";
    std::ofstream(job_file) << JobToml(rounds, stage_timeout_seconds);
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
    return match.str();
  }

  void Approve(const std::string& job_id) {
    auto approved = federation_->Cli({"job", "approve", job_id, "--allow-non-private", "--yes"},
                                     "governance");
    EXPECT_TRUE(approved.ok() && approved->exit_code == 0)
        << (approved.ok() ? approved->output : approved.status().ToString());
  }

  // Follows the job to its end, letting `controller` act on every poll
  // (every 15 ms while it has work, as `tessera simulate` does).
  tessera::v1::GetJobResponse Follow(const std::string& job_id, DropoutController& controller,
                                     AgentControl& control, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    tessera::v1::GetJobResponse last;
    while (absl::Now() < deadline) {
      auto job = GetJob(job_id);
      if (job.ok()) {
        last = *job;
        absl::Status stepped = controller.Step(Observe(*job), control);
        EXPECT_OK(stepped);
        if (!stepped.ok() || Observe(*job).final) break;
      }
      absl::SleepFor(controller.idle() ? absl::Milliseconds(100) : absl::Milliseconds(15));
    }
    EXPECT_OK(controller.ResumeAll(control));
    return last;
  }

  // The completed attempt of each round, from the coordinator.
  static std::map<int64_t, const tessera::v1::RoundSummary*> Completed(
      const tessera::v1::GetJobResponse& job) {
    std::map<int64_t, const tessera::v1::RoundSummary*> completed;
    for (const auto& round : job.rounds()) {
      if (round.outcome() == "completed") completed[round.round()] = &round;
    }
    return completed;
  }

  static bool Included(const tessera::v1::RoundSummary& round, const std::string& site) {
    for (const auto& participant : round.participants()) {
      if (participant.site_id() == site) return participant.status() == "included";
    }
    return false;
  }

  std::vector<agent::Participation> AgentLedger(const std::string& site) {
    auto ledger = agent::PrivacyLedgerStore::Open(federation_->AgentStateDir(site) + "/ledger.db");
    EXPECT_OK(ledger.status()) << site;
    if (!ledger.ok()) return {};
    auto entries = (*ledger)->List();
    EXPECT_OK(entries.status()) << site;
    return entries.ok() ? *entries : std::vector<agent::Participation>{};
  }

  std::string Database() const { return federation_->dir() + "/coordinator-state/coordinator.db"; }

  // Rows of a one-column-pair query (key, count) on the coordinator's database.
  std::map<std::string, int64_t> Counts(const std::string& sql, const std::string& job_id) {
    std::map<std::string, int64_t> counts;
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open_v2(Database().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &statement, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db.get());
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> owned(statement, &sqlite3_finalize);
    sqlite3_bind_text(statement, 1, job_id.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(statement) == SQLITE_ROW) {
      counts[reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))] =
          sqlite3_column_int64(statement, 1);
    }
    return counts;
  }

  // Nothing lost or doubled: rounds 1..rounds completed once each, each
  // with one checkpoint and one "round.completed" audit entry (and round
  // 0's checkpoint, the initial model, once); one central ledger row per included
  // site of each training round; the audit chain and its signed heads
  // verify with `tessera audit verify`.
  void ExpectNothingLostOrDoubled(const tessera::v1::GetJobResponse& job, int rounds) {
    const std::string& job_id = job.summary().job_id();
    std::map<int64_t, int> completed;
    for (const auto& round : job.rounds()) completed[round.round()] += round.outcome() == "completed";
    std::map<std::string, int64_t> expected_ledger;
    for (const auto& [round, summary] : Completed(job)) {
      if (round == 0) continue;
      for (const auto& participant : summary->participants()) {
        if (participant.status() == "included") {
          expected_ledger[absl::StrCat(participant.site_id(), "/", round)] = 1;
        }
      }
    }
    const auto checkpoints = Counts(
        "SELECT CAST(round AS TEXT), COUNT(*) FROM checkpoints WHERE job_id = ?1 GROUP BY round",
        job_id);
    const auto audited = Counts(
        "SELECT json_extract(details, '$.round'), COUNT(*) FROM audit_log "
        "WHERE subject = ?1 AND action = 'round.completed' GROUP BY 1",
        job_id);
    EXPECT_EQ(checkpoints.count("0") ? checkpoints.at("0") : 0, 1) << "the initial checkpoint";
    for (int r = 1; r <= rounds; ++r) {
      EXPECT_EQ(completed[r], 1) << "round " << r;
      const std::string key = std::to_string(r);
      EXPECT_EQ(checkpoints.count(key) ? checkpoints.at(key) : 0, 1) << "checkpoint of round " << r;
      EXPECT_EQ(audited.count(key) ? audited.at(key) : 0, 1) << "audit entry of round " << r;
    }
    EXPECT_EQ(checkpoints.size(), static_cast<size_t>(rounds + 1));
    EXPECT_EQ(audited.size(), static_cast<size_t>(rounds));
    const auto ledger = Counts(
        "SELECT site_id || '/' || round, COUNT(*) FROM ledger WHERE job_id = ?1 GROUP BY 1", job_id);
    EXPECT_EQ(ledger, expected_ledger);
    const auto job_events = Counts(
        "SELECT action, COUNT(*) FROM audit_log WHERE subject = ?1 AND action LIKE 'job.%' "
        "GROUP BY action",
        job_id);
    EXPECT_EQ(job_events.count("job.started") ? job_events.at("job.started") : 0, 1);
    EXPECT_EQ(job_events.count("job.completed") ? job_events.at("job.completed") : 0, 1);

    ASSERT_OK_AND_ASSIGN(RunResult verified,
                         federation_->Cli({"audit", "verify"}, "auditor", absl::Seconds(60)));
    EXPECT_EQ(verified.exit_code, 0) << verified.output;
  }

  // The agent's own ledger and the coordinator's central ledger agree for
  // `site`: the product records at the source before it sends ("ledger
  // before send", agent/task_runner.cc), so
  //   * every round the coordinator summed for the site is in the site's
  //     ledger under the attempt that completed, and
  //   * the site's ledger has no entry for a completed attempt that did not
  //     include it, except where it recorded and then died before its
  //     masked input arrived (`may_have_unsent`: the attempt it was killed
  //     in) — privacy that may have left is never unrecorded, so the site
  //     may count more than the coordinator, never less.
  // Entries of attempts that did not complete (aborted, interrupted) are
  // the site's own conservative record and are not in the central ledger.
  void ExpectLedgersAgree(const tessera::v1::GetJobResponse& job, const std::string& site,
                          std::optional<std::pair<int64_t, int64_t>> may_have_unsent) {
    const std::string& job_id = job.summary().job_id();
    const auto completed = Completed(job);
    std::set<int64_t> central;
    ASSERT_OK_AND_ASSIGN(auto store, coordinator::Store::OpenReadOnly(Database()));
    ASSERT_OK_AND_ASSIGN(auto ledger, store->ListLedger(job_id));
    for (const auto& entry : ledger) {
      if (entry.site_id == site) central.insert(entry.round);
    }
    std::set<int64_t> recorded_for_completed;
    for (const agent::Participation& entry : AgentLedger(site)) {
      if (entry.job_id != job_id) continue;
      auto it = completed.find(entry.round);
      if (it == completed.end() || it->second->attempt() != static_cast<uint32_t>(entry.attempt)) {
        continue;  // an attempt that did not complete
      }
      if (may_have_unsent == std::make_pair(entry.round, entry.attempt) &&
          !Included(*it->second, site)) {
        continue;  // recorded, then killed before its masked input arrived
      }
      recorded_for_completed.insert(entry.round);
    }
    EXPECT_EQ(recorded_for_completed, central) << site;
  }

  std::unique_ptr<LocalFederation> federation_;
  std::unique_ptr<tessera::v1::Admin::Stub> admin_;
  std::string mounted_;  // a tmpfs this test mounted, unmounted in TearDown
};

// Parameterised over the stage (tessera::v1::Stage, 2..6).
class StageTest : public FaultInjectionTest, public ::testing::WithParamInterface<int> {
 protected:
  // Runs a two-round job in which `site` meets `fault` (what the dropout
  // controller does instead of killing the site's agent) in round 1 at the
  // stage under test; the controller holds the round in lockstep, so the
  // fault comes before that site's message of the stage. The job must
  // complete after exactly that one fault: `job` and `event` are set.
  void RunWithFault(const std::string& site, int stage_timeout_seconds,
                    std::function<absl::Status(const std::string&)> fault,
                    tessera::v1::GetJobResponse* job, cli::DropoutEvent* event) {
    const std::string job_id = Submit(/*rounds=*/2, stage_timeout_seconds);
    ASSERT_FALSE(job_id.empty());
    DropoutController controller({PlannedDropout{1, site, GetParam()}}, kSites, /*first_round=*/1);
    Control control(*federation_, std::move(fault));
    ASSERT_OK(controller.Step(RoundObservation{}, control));
    Approve(job_id);
    *job = Follow(job_id, controller, control, absl::Seconds(60));
    ASSERT_EQ(job->summary().state(), "completed")
        << job->summary().state_reason() << "\n" << federation_->CoordinatorOutput();
    ASSERT_EQ(controller.events().size(), 1u);
    *event = controller.events()[0];
    EXPECT_EQ(event->site, site);
    EXPECT_EQ(event->round, 1);
    EXPECT_EQ(event->stage, cli::StageName(GetParam()));
  }
};

std::string StageParamName(const ::testing::TestParamInfo<int>& info) {
  std::string name = cli::StageName(info.param);
  name.erase(std::remove(name.begin(), name.end(), ' '), name.end());
  return name;
}

// ------------------------------------------------------------ agents

using AgentKilledTest = StageTest;

// The agent of one site is killed in round 1 at the stage under test and
// started again at once: round 1 completes without it (one dropout is
// within the threshold), it takes part in round 2, and its own ledger and
// the coordinator's agree.
TEST_P(AgentKilledTest, TheRoundCompletesAndTheSiteRejoinsTheNextRound) {
  const int stage = GetParam();
  const std::string victim = "rfh";
  StartFederation();
  // The killed agent's stage closes at its deadline; the others answer in
  // milliseconds, so a few seconds bound the round without cutting them off.
  tessera::v1::GetJobResponse job;
  cli::DropoutEvent killed;
  ASSERT_NO_FATAL_FAILURE(RunWithFault(
      victim, /*stage_timeout_seconds=*/4,
      [&](const std::string& site) -> absl::Status {
        if (absl::Status stopped = federation_->KillAgent(site); !stopped.ok()) return stopped;
        return federation_->StartAgent(site);
      },
      &job, &killed));

  const auto completed = Completed(job);
  ASSERT_EQ(completed.count(1), 1u);
  ASSERT_EQ(completed.count(2), 1u);
  // Round 1: the first attempt completes with the three others; the victim
  // is in the sum only when its masked input was in before it died (killed
  // at consistency check or unmask: secure aggregation sums every masked
  // input that arrived, and its self-mask is rebuilt from the survivors'
  // shares).
  const tessera::v1::RoundSummary& round1 = *completed.at(1);
  EXPECT_EQ(round1.attempt(), static_cast<uint32_t>(killed.attempt));
  for (const std::string& site : kSites) {
    if (site == victim) {
      EXPECT_EQ(Included(round1, site), stage > tessera::v1::STAGE_MASKED_INPUT)
          << "stage " << cli::StageName(stage);
    } else {
      EXPECT_TRUE(Included(round1, site)) << site;
    }
  }
  // Round 2: everyone, the restarted site too.
  for (const std::string& site : kSites) EXPECT_TRUE(Included(*completed.at(2), site)) << site;

  for (const std::string& site : kSites) {
    ExpectLedgersAgree(job, site,
                       site == victim ? std::make_optional(std::make_pair(killed.round, killed.attempt))
                                      : std::nullopt);
  }
  ExpectNothingLostOrDoubled(job, 2);
}

INSTANTIATE_TEST_SUITE_P(EachStage, AgentKilledTest,
                         ::testing::Values(tessera::v1::STAGE_ADVERTISE_KEYS,
                                           tessera::v1::STAGE_SHARE_KEYS,
                                           tessera::v1::STAGE_MASKED_INPUT,
                                           tessera::v1::STAGE_CONSISTENCY_CHECK,
                                           tessera::v1::STAGE_UNMASK),
                         StageParamName);

// ------------------------------------------------------------ coordinator

using CoordinatorKilledTest = StageTest;

// The coordinator is killed in round 1 at the stage under test, with every
// site but one having sent that stage's message, and started again: the
// job resumes from the last committed round (none: the initial model), the
// round is run again as a new attempt; the cut-short attempt is recorded once as interrupted, and nothing is lost
// or doubled.
TEST_P(CoordinatorKilledTest, TheJobResumesFromTheLastCommittedRound) {
  const std::string held = "rfh";
  StartFederation();
  // The held site is let go once the coordinator is back: had it dialled
  // a coordinator that was not yet listening, gRPC's reconnection backoff
  // would keep it away for several seconds more.
  tessera::v1::GetJobResponse job;
  cli::DropoutEvent killed;
  ASSERT_NO_FATAL_FAILURE(RunWithFault(
      held, /*stage_timeout_seconds=*/10,
      [&](const std::string& site) -> absl::Status {
        if (absl::Status stopped = federation_->KillCoordinator(); !stopped.ok()) return stopped;
        if (absl::Status started = federation_->StartCoordinator(); !started.ok()) return started;
        return federation_->SignalAgent(site, SIGCONT);
      },
      &job, &killed));

  // The attempt the kill cut short is recorded once, as interrupted, and
  // its number is not reused; round 1 then completed with every site.
  int interrupted = 0;
  for (const auto& round : job.rounds()) {
    if (round.outcome() == "completed") continue;
    EXPECT_EQ(round.round(), 1u);
    EXPECT_EQ(round.attempt(), static_cast<uint32_t>(killed.attempt));
    EXPECT_EQ(round.reason(), "the coordinator stopped during this attempt");
    ++interrupted;
  }
  EXPECT_EQ(interrupted, 1);
  const auto completed = Completed(job);
  ASSERT_EQ(completed.count(1), 1u);
  EXPECT_GT(completed.at(1)->attempt(), static_cast<uint32_t>(killed.attempt));
  for (const std::string& site : kSites) {
    EXPECT_TRUE(Included(*completed.at(1), site)) << site;
    ExpectLedgersAgree(job, site, std::nullopt);
  }
  ExpectNothingLostOrDoubled(job, 2);
}

INSTANTIATE_TEST_SUITE_P(EachStage, CoordinatorKilledTest,
                         ::testing::Values(tessera::v1::STAGE_ADVERTISE_KEYS,
                                           tessera::v1::STAGE_SHARE_KEYS,
                                           tessera::v1::STAGE_MASKED_INPUT,
                                           tessera::v1::STAGE_CONSISTENCY_CHECK,
                                           tessera::v1::STAGE_UNMASK),
                         StageParamName);

// ------------------------------------------------------------ disk full

using DiskFullTest = FaultInjectionTest;

// Writes to `path` until the file system is full (ENOSPC), down to its
// last page; returns the bytes written.
absl::StatusOr<int64_t> FillUp(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", path));
  int64_t total = 0;
  for (size_t chunk : {size_t{1} << 20, size_t{4096}, size_t{512}}) {
    const std::string block(chunk, 'x');
    while (true) {
      const ssize_t n = ::write(fd, block.data(), block.size());
      if (n <= 0) break;
      total += n;
    }
  }
  const int err = errno;
  ::close(fd);
  if (err != ENOSPC) return absl::InternalError(absl::StrCat("filling up: ", std::strerror(err)));
  return total;
}

// The coordinator's state directory (its database and object store) is a
// 16 MiB tmpfs that a filler file fills up in the middle of a job: the
// coordinator stops scheduling rounds with a clear reason in its log and in
// `tessera job show`, keeps running and fails nothing; once the filler is
// deleted the job resumes and completes, with nothing lost or doubled, the
// database intact (PRAGMA integrity_check) and the audit log verifying.
TEST_F(DiskFullTest, TheCoordinatorPausesOnAFullDiskAndResumesWhenSpaceReturns) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs for the state directory needs root";
  ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start(kSites, /*reuse_pki=*/true));
  // Move the coordinator's state onto the small file system, before any
  // agent starts.
  ASSERT_OK(federation_->StopCoordinator().status());
  const std::string state = federation_->dir() + "/coordinator-state";
  const std::string moved = state + ".moved";
  std::filesystem::rename(state, moved);
  std::filesystem::create_directory(state);
  if (::mount("tmpfs", state.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0) {
    GTEST_SKIP() << "this machine does not allow mounting a tmpfs: " << std::strerror(errno);
  }
  mounted_ = state;
  std::filesystem::copy(moved, state, std::filesystem::copy_options::recursive);
  ASSERT_OK(federation_->StartCoordinator());
  // The agents start after the move: had they dialled the coordinator while
  // it was down, gRPC's reconnection backoff would keep them away a while.
  StartAgents();

  constexpr int kRounds = 12;
  const std::string job_id = Submit(kRounds, /*stage_timeout_seconds=*/10);
  ASSERT_FALSE(job_id.empty());
  Approve(job_id);
  auto wait_for = [&](const std::function<bool(const tessera::v1::GetJobResponse&)>& ready) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      auto job = GetJob(job_id);
      if (job.ok() && ready(*job)) return *job;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "timed out; coordinator log:\n" << federation_->CoordinatorOutput();
    return tessera::v1::GetJobResponse();
  };
  // Twelve rounds of this model take about half a second back to back:
  // the disk fills after the first, well before the last. (Many more
  // rounds in a row reach the sites' call rate limit, see below.)
  wait_for([](const auto& job) { return job.summary().rounds_completed() >= 1; });

  const std::string filler = state + "/filler";
  ASSERT_OK_AND_ASSIGN(int64_t filled, FillUp(filler));
  EXPECT_GT(filled, 0);
  const tessera::v1::GetJobResponse paused = wait_for([](const auto& job) {
    return job.summary().waiting_reason().find("cannot write its state") != std::string::npos;
  });
  if (HasFailure()) return;
  EXPECT_EQ(paused.summary().state(), "running");
  EXPECT_LT(paused.summary().rounds_completed(), static_cast<uint32_t>(kRounds));
  EXPECT_NE(federation_->CoordinatorOutput().find("rounds paused: storage not writable"),
            std::string::npos)
      << federation_->CoordinatorOutput();
  ASSERT_OK_AND_ASSIGN(RunResult shown, federation_->Cli({"job", "show", job_id}, "ml-lead"));
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_NE(shown.output.find("paused: the coordinator cannot write its state"), std::string::npos)
      << shown.output;
  // Still paused a while later, having neither failed the job nor
  // completed a round (the disk is still full).
  absl::SleepFor(absl::Seconds(2));
  ASSERT_OK_AND_ASSIGN(tessera::v1::GetJobResponse still, GetJob(job_id));
  EXPECT_EQ(still.summary().state(), "running");
  EXPECT_EQ(still.summary().rounds_completed(), paused.summary().rounds_completed());

  std::filesystem::remove(filler);
  const tessera::v1::GetJobResponse job = wait_for([](const auto& j) {
    return j.summary().state() != "running";
  });
  ASSERT_EQ(job.summary().state(), "completed")
      << job.summary().state_reason() << "\n" << federation_->CoordinatorOutput();
  EXPECT_EQ(job.summary().waiting_reason(), "");
  EXPECT_EQ(job.summary().rounds_completed(), static_cast<uint32_t>(kRounds));
  // An attempt lost to the full disk, if any, says so. (Thirty rounds in a
  // row make each agent call faster than the coordinator's default limit of
  // 50 calls a second (burst 200); its refused parameter downloads and
  // stage messages then abort an attempt for missing sites.)
  for (const auto& round : job.rounds()) {
    if (round.outcome() == "completed") continue;
    EXPECT_NE(round.reason().find("could not store the round's result"), std::string::npos)
        << round.reason();
  }
  ExpectNothingLostOrDoubled(job, kRounds);
  for (const std::string& site : kSites) ExpectLedgersAgree(job, site, std::nullopt);

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(Database().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, &sqlite3_close);
  std::string integrity;
  ASSERT_EQ(sqlite3_exec(
                db.get(), "PRAGMA integrity_check",
                [](void* out, int, char** values, char**) {
                  static_cast<std::string*>(out)->append(values[0] != nullptr ? values[0] : "");
                  return 0;
                },
                &integrity, nullptr),
            SQLITE_OK);
  EXPECT_EQ(integrity, "ok");
}

}  // namespace
}  // namespace tessera::testing
