// The coordinator store's schema version 2: jobs and their governance
// decisions, rounds and their participants, checkpoints and the central
// privacy ledger. Every change is all-or-nothing together with its audit
// entry, retries change nothing, pruning keeps the newest checkpoints and the
// initial one, and a version-1 file opens with its sites and audit chain
// intact.
#include <cmath>
#include <thread>

#include "coordinator/object_store.h"
#include "coordinator/store.h"
#include "crypto/bytes.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr int64_t kDimension = 5;

// Parameters are opaque to the store apart from their size (4 bytes each),
// so a byte pattern per round is enough to tell checkpoints apart.
std::string Parameters(int64_t round) {
  return std::string(static_cast<size_t>(kDimension) * 4, static_cast<char>('a' + round));
}

AuditEvent Audit(const std::string& action, const std::string& subject, int second = 0) {
  return {kNow + absl::Seconds(second), "alice", "operator", action, subject, "{}"};
}

NewJob Job(const std::string& id, int64_t submitted_second = 0) {
  NewJob job;
  job.job_id = id;
  job.name = "readmission " + id;
  job.spec_json = absl::StrCat("{\"name\":\"", id, "\",\"rounds\":10}");
  job.spec_sha256 = crypto::Sha256Hex(job.spec_json);
  job.model_sha256 = crypto::Sha256Hex("torchscript model");
  job.initial_parameters_sha256 = crypto::Sha256Hex(Parameters(0));
  job.dimension = kDimension;
  job.submitted_by = "ml-lead-bob";
  job.submitted_at = kNow + absl::Seconds(submitted_second);
  return job;
}

CheckpointRecord Checkpoint(const std::string& job_id, int64_t round) {
  CheckpointRecord checkpoint;
  checkpoint.job_id = job_id;
  checkpoint.round = round;
  checkpoint.parameters = Parameters(round);
  checkpoint.parameters_sha256 = crypto::Sha256Hex(checkpoint.parameters);
  checkpoint.optimizer_state = round == 0 ? "" : absl::StrCat("adam state ", round);
  checkpoint.created_at = kNow + absl::Minutes(round);
  return checkpoint;
}

ApprovalRecord Approval(const NewJob& job) {
  return {"governance-carol", kNow + absl::Hours(1), true, "", job.spec_sha256, false};
}

RoundRecord Round(const std::string& job_id, int64_t round, int64_t attempt,
                  const std::string& outcome) {
  RoundRecord record;
  record.job_id = job_id;
  record.round = round;
  record.attempt = attempt;
  record.outcome = outcome;
  record.reason = outcome == "aborted" ? "too few sites reached the unmask stage" : "";
  record.started_at = kNow + absl::Minutes(10 * round);
  record.finished_at = record.started_at + absl::Minutes(5);
  record.participants = {{"rfh", "included", ""},
                         {"guys", "included", ""},
                         {"kch", "dropped", "masked input"},
                         {"uclh", "refused", "epsilon budget exhausted"}};
  record.metrics_json = absl::StrCat("{\"loss\":", 1.0 / static_cast<double>(round + 1), "}");
  return record;
}

// A complete training round for the two included sites of Round().
RoundCommit Commit(const std::string& job_id, int64_t round, int64_t attempt = 1,
                   int64_t keep = 0) {
  RoundCommit commit;
  commit.round = Round(job_id, round, attempt, "completed");
  commit.checkpoint = Checkpoint(job_id, round);
  for (const char* site : {"rfh", "guys"}) {
    commit.ledger.push_back({job_id, round, site, "readmissions",
                             "[{\"type\":\"skellam\",\"variance\":40000,\"count\":1}]",
                             kNow + absl::Minutes(10 * round + 5)});
  }
  commit.audit = Audit("round.committed", job_id, static_cast<int>(round) + 100);
  commit.keep_checkpoints = keep;
  return commit;
}

int64_t Count(Store& store, const std::string& table) {
  Statement stmt = store.database().Prepare(absl::StrCat("SELECT count(*) FROM ", table)).value();
  EXPECT_THAT(stmt.Step(), ::tessera::testing::IsOkAndHolds(true));
  return stmt.ColumnInt(0);
}

// Every table's row count, so a refused call can be shown to change nothing.
std::vector<int64_t> Counts(Store& store) {
  std::vector<int64_t> counts;
  for (const char* table : {"jobs", "approvals", "rounds", "round_participants", "checkpoints",
                            "ledger", "audit_log"}) {
    counts.push_back(Count(store, table));
  }
  return counts;
}

void ExpectChainVerifies(Store& store, int64_t entries) {
  ASSERT_OK_AND_ASSIGN(AuditCheck check, store.VerifyAuditChain());
  EXPECT_EQ(check.entries, entries);
  EXPECT_FALSE(check.first_bad.has_value()) << check.problem;
}

// Runs on a :memory: database and on a file.
class StoreJobsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    path_ = GetParam() ? dir_.File("coordinator.db") : ":memory:";
    ASSERT_OK_AND_ASSIGN(store_, Store::Open(path_));
  }

  // Creates `id` and takes it to running, its initial checkpoint saved
  // (three audit entries: created, approved, started).
  void StartJob(const std::string& id) {
    const NewJob job = Job(id);
    ASSERT_OK(store_->CreateJob(job, Audit("job.created", id)));
    ASSERT_OK(store_->SaveInitialCheckpoint(Checkpoint(id, 0)));
    ASSERT_OK(store_->RecordDecision(id, Approval(job), Audit("job.approved", id)));
    ASSERT_OK(store_->SetJobState(id, JobState::kRunning, "round 1", Audit("job.started", id)));
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(MemoryAndDisk, StoreJobsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Disk" : "Memory";
                         });

TEST(JobStateNameTest, NamesEveryStateForPeople) {
  EXPECT_EQ(JobStateName(JobState::kPendingApproval), "pending approval");
  EXPECT_EQ(JobStateName(JobState::kApproved), "approved");
  EXPECT_EQ(JobStateName(JobState::kRunning), "running");
  EXPECT_EQ(JobStateName(JobState::kCompleted), "completed");
  EXPECT_EQ(JobStateName(JobState::kStopped), "stopped");
  EXPECT_EQ(JobStateName(JobState::kFailed), "failed");
  EXPECT_EQ(JobStateName(JobState::kRejected), "rejected");
}

// ------------------------------------------------------------------ jobs

TEST_P(StoreJobsTest, CreateJobStoresItPendingApprovalWithItsAuditEntry) {
  const NewJob job = Job("job-0123456789ab");
  ASSERT_OK(store_->CreateJob(job, Audit("job.created", job.job_id, 7)));
  ASSERT_OK_AND_ASSIGN(JobRecord stored, store_->GetJob(job.job_id));
  EXPECT_EQ(stored.name, job.name);
  EXPECT_EQ(stored.spec_json, job.spec_json);
  EXPECT_EQ(stored.spec_sha256, job.spec_sha256);
  EXPECT_EQ(stored.model_sha256, job.model_sha256);
  EXPECT_EQ(stored.initial_parameters_sha256, job.initial_parameters_sha256);
  EXPECT_EQ(stored.dimension, kDimension);
  EXPECT_EQ(stored.submitted_by, "ml-lead-bob");
  EXPECT_EQ(stored.submitted_at, kNow);
  EXPECT_EQ(stored.state, JobState::kPendingApproval);
  EXPECT_FALSE(stored.state_reason.empty());
  EXPECT_FALSE(stored.decision.has_value());
  EXPECT_EQ(stored.rounds_completed, 0);
  EXPECT_EQ(stored.standardization_json, "");
  EXPECT_EQ(stored.updated_at, kNow + absl::Seconds(7));  // the audit event's time
  ASSERT_OK_AND_ASSIGN(auto audit, store_->ReadAudit(0, 10));
  ASSERT_THAT(audit, SizeIs(1));
  EXPECT_EQ(audit[0].event.action, "job.created");
  EXPECT_EQ(audit[0].event.subject, job.job_id);
}

TEST_P(StoreJobsTest, CreateJobRefusesBadJobsAndWritesNothing) {
  NewJob wrong_hash = Job("job-1");
  wrong_hash.spec_sha256 = crypto::Sha256Hex("another spec");
  NewJob bad_model = Job("job-2");
  bad_model.model_sha256 = "ABC";
  NewJob bad_parameters = Job("job-3");
  bad_parameters.initial_parameters_sha256 = std::string(64, 'g');
  NewJob no_dimension = Job("job-4");
  no_dimension.dimension = 0;
  NewJob no_id = Job("");
  NewJob no_submitter = Job("job-5");
  no_submitter.submitted_by = "";
  for (const NewJob& job :
       {wrong_hash, bad_model, bad_parameters, no_dimension, no_id, no_submitter}) {
    EXPECT_THAT(store_->CreateJob(job, Audit("job.created", job.job_id)),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << job.job_id;
  }
  EXPECT_THAT(store_->CreateJob(wrong_hash, Audit("job.created", "job-1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hashes to")));
  EXPECT_THAT(Counts(*store_), ElementsAre(0, 0, 0, 0, 0, 0, 0));
}

TEST_P(StoreJobsTest, CreateJobRefusesATakenIdAndKeepsTheFirst) {
  ASSERT_OK(store_->CreateJob(Job("job-1"), Audit("job.created", "job-1")));
  NewJob again = Job("job-1");
  again.name = "an impostor";
  EXPECT_THAT(store_->CreateJob(again, Audit("job.created", "job-1")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("job-1")));
  EXPECT_EQ(store_->GetJob("job-1").value().name, Job("job-1").name);
  EXPECT_EQ(Count(*store_, "audit_log"), 1);
}

TEST_P(StoreJobsTest, GetJobNamesTheMissingId) {
  EXPECT_THAT(store_->GetJob("job-nothere"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job-nothere")));
}

TEST_P(StoreJobsTest, ListJobsIsNewestFirst) {
  ASSERT_OK(store_->CreateJob(Job("job-b", 20), Audit("job.created", "job-b")));
  ASSERT_OK(store_->CreateJob(Job("job-a", 10), Audit("job.created", "job-a")));
  ASSERT_OK(store_->CreateJob(Job("job-c", 30), Audit("job.created", "job-c")));
  ASSERT_OK_AND_ASSIGN(auto jobs, store_->ListJobs());
  ASSERT_THAT(jobs, SizeIs(3));
  EXPECT_EQ(jobs[0].job_id, "job-c");
  EXPECT_EQ(jobs[1].job_id, "job-b");
  EXPECT_EQ(jobs[2].job_id, "job-a");
}

TEST_P(StoreJobsTest, InitialCheckpointIsStoredOnceAndMustBeTheSubmittedParameters) {
  ASSERT_OK(store_->CreateJob(Job("job-1"), Audit("job.created", "job-1")));
  EXPECT_THAT(store_->LatestCheckpoint("job-1"), StatusIs(absl::StatusCode::kNotFound));

  CheckpointRecord wrong_round = Checkpoint("job-1", 0);
  wrong_round.round = 1;
  CheckpointRecord corrupt = Checkpoint("job-1", 0);
  corrupt.parameters[3] ^= 1;
  // Hashes correctly, but is not what the job was submitted with.
  CheckpointRecord other = Checkpoint("job-1", 1);
  other.round = 0;
  CheckpointRecord short_one = Checkpoint("job-1", 0);
  short_one.parameters.pop_back();
  short_one.parameters_sha256 = crypto::Sha256Hex(short_one.parameters);
  for (const CheckpointRecord& bad : {wrong_round, corrupt, other, short_one}) {
    EXPECT_THAT(store_->SaveInitialCheckpoint(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(store_->SaveInitialCheckpoint(Checkpoint("job-none", 0)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job-none")));
  EXPECT_EQ(Count(*store_, "checkpoints"), 0);

  ASSERT_OK(store_->SaveInitialCheckpoint(Checkpoint("job-1", 0)));
  EXPECT_THAT(store_->SaveInitialCheckpoint(Checkpoint("job-1", 0)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(CheckpointRecord stored, store_->GetCheckpoint("job-1", 0));
  EXPECT_EQ(stored.parameters, Parameters(0));
  EXPECT_EQ(stored.parameters_sha256, Job("job-1").initial_parameters_sha256);
  EXPECT_EQ(stored.optimizer_state, "");
  EXPECT_EQ(stored.created_at, kNow);
  EXPECT_EQ(store_->LatestCheckpoint("job-1").value().round, 0);
  EXPECT_EQ(Count(*store_, "checkpoints"), 1);
}

TEST_P(StoreJobsTest, ApprovalIsRecordedWithItsFlagsAndOnlyOnce) {
  const NewJob job = Job("job-1");
  ASSERT_OK(store_->CreateJob(job, Audit("job.created", "job-1")));
  ApprovalRecord approval = Approval(job);
  approval.allow_non_private = true;
  ASSERT_OK(store_->RecordDecision("job-1", approval, Audit("job.approved", "job-1", 9)));
  ASSERT_OK_AND_ASSIGN(JobRecord stored, store_->GetJob("job-1"));
  EXPECT_EQ(stored.state, JobState::kApproved);
  ASSERT_TRUE(stored.decision.has_value());
  EXPECT_EQ(stored.decision->approver, "governance-carol");
  EXPECT_EQ(stored.decision->decided_at, kNow + absl::Hours(1));
  EXPECT_TRUE(stored.decision->approved);
  EXPECT_TRUE(stored.decision->allow_non_private);
  EXPECT_EQ(stored.decision->spec_sha256, job.spec_sha256);
  EXPECT_EQ(stored.updated_at, kNow + absl::Seconds(9));

  EXPECT_THAT(store_->RecordDecision("job-1", approval, Audit("job.approved", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("approved")));
  EXPECT_EQ(Count(*store_, "approvals"), 1);
  EXPECT_EQ(Count(*store_, "audit_log"), 2);
}

TEST_P(StoreJobsTest, RejectionNeedsAReasonAndIsFinal) {
  const NewJob job = Job("job-1");
  ASSERT_OK(store_->CreateJob(job, Audit("job.created", "job-1")));
  ApprovalRecord rejection = Approval(job);
  rejection.approved = false;
  EXPECT_THAT(store_->RecordDecision("job-1", rejection, Audit("job.rejected", "job-1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  rejection.reason = "noise multiplier too low for this cohort";
  ASSERT_OK(store_->RecordDecision("job-1", rejection, Audit("job.rejected", "job-1")));
  ASSERT_OK_AND_ASSIGN(JobRecord stored, store_->GetJob("job-1"));
  EXPECT_EQ(stored.state, JobState::kRejected);
  EXPECT_EQ(stored.state_reason, rejection.reason);
  EXPECT_FALSE(stored.decision->approved);
  EXPECT_EQ(stored.decision->reason, rejection.reason);
  // A rejected job cannot be approved afterwards, by decision or by state.
  EXPECT_THAT(store_->RecordDecision("job-1", Approval(job), Audit("job.approved", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->SetJobState("job-1", JobState::kApproved, "", Audit("x", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->GetJob("job-1").value().state, JobState::kRejected);
}

TEST_P(StoreJobsTest, DecisionAboutAnotherSpecIsRefused) {
  const NewJob job = Job("job-1");
  ASSERT_OK(store_->CreateJob(job, Audit("job.created", "job-1")));
  ApprovalRecord stale = Approval(job);
  stale.spec_sha256 = crypto::Sha256Hex("the spec as it was last week");
  EXPECT_THAT(store_->RecordDecision("job-1", stale, Audit("job.approved", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("current spec")));
  EXPECT_THAT(store_->RecordDecision("job-none", Approval(job), Audit("job.approved", "job-1")),
              StatusIs(absl::StatusCode::kNotFound));
  ApprovalRecord anonymous = Approval(job);
  anonymous.approver = "";
  EXPECT_THAT(store_->RecordDecision("job-1", anonymous, Audit("job.approved", "job-1")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store_->GetJob("job-1").value().state, JobState::kPendingApproval);
  EXPECT_EQ(Count(*store_, "approvals"), 0);
  EXPECT_EQ(Count(*store_, "audit_log"), 1);
}

TEST_P(StoreJobsTest, StateMovesFollowTheJobLifecycle) {
  // Each case starts from a fresh job taken to `from` (through the legal
  // path); the expected outcomes are the moves listed in store.h.
  struct Case {
    JobState from, to;
    bool legal;
  };
  const Case cases[] = {
      {JobState::kPendingApproval, JobState::kRunning, false},
      {JobState::kPendingApproval, JobState::kApproved, false},
      {JobState::kPendingApproval, JobState::kStopped, true},
      {JobState::kPendingApproval, JobState::kPendingApproval, true},
      {JobState::kApproved, JobState::kRunning, true},
      {JobState::kApproved, JobState::kCompleted, false},
      {JobState::kApproved, JobState::kFailed, true},
      {JobState::kRunning, JobState::kRunning, true},
      {JobState::kRunning, JobState::kCompleted, true},
      {JobState::kRunning, JobState::kStopped, true},
      {JobState::kRunning, JobState::kApproved, false},
      {JobState::kRunning, JobState::kPendingApproval, false},
      {JobState::kRunning, JobState::kRejected, false},
      {JobState::kCompleted, JobState::kRunning, false},
      {JobState::kStopped, JobState::kRunning, false},
      {JobState::kFailed, JobState::kStopped, false},
      {JobState::kStopped, JobState::kStopped, false},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string id = absl::StrCat("job-", ++n);
    const NewJob job = Job(id);
    ASSERT_OK(store_->CreateJob(job, Audit("job.created", id)));
    if (c.from != JobState::kPendingApproval) {
      ASSERT_OK(store_->RecordDecision(id, Approval(job), Audit("job.approved", id)));
    }
    if (c.from == JobState::kRunning || c.from == JobState::kCompleted) {
      ASSERT_OK(store_->SetJobState(id, JobState::kRunning, "", Audit("job.started", id)));
    }
    if (c.from == JobState::kCompleted || c.from == JobState::kStopped ||
        c.from == JobState::kFailed) {
      ASSERT_OK(store_->SetJobState(id, c.from, "operator", Audit("job.ended", id)));
    }
    ASSERT_EQ(store_->GetJob(id).value().state, c.from);
    const int64_t audit_before = Count(*store_, "audit_log");
    const absl::Status status =
        store_->SetJobState(id, c.to, "the reason", Audit("job.state", id, 50));
    const std::string label = absl::StrCat(JobStateName(c.from), " -> ", JobStateName(c.to));
    ASSERT_OK_AND_ASSIGN(JobRecord after, store_->GetJob(id));
    if (c.legal) {
      EXPECT_OK(status) << label;
      EXPECT_EQ(after.state, c.to) << label;
      EXPECT_EQ(after.state_reason, "the reason") << label;
      EXPECT_EQ(after.updated_at, kNow + absl::Seconds(50)) << label;
      EXPECT_EQ(Count(*store_, "audit_log"), audit_before + 1) << label;
    } else {
      EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition)) << label;
      EXPECT_EQ(after.state, c.from) << label;
      EXPECT_EQ(Count(*store_, "audit_log"), audit_before) << label;
    }
  }
  EXPECT_THAT(store_->SetJobState("job-none", JobState::kStopped, "x", Audit("x", "job-none")),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store_->CreateJob(Job("job-quiet"), Audit("job.created", "job-quiet")));
  EXPECT_THAT(store_->SetJobState("job-quiet", JobState::kStopped, "", Audit("x", "job-quiet")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  ExpectChainVerifies(*store_, Count(*store_, "audit_log"));
}

// -------------------------------------------------------------- statistics

TEST_P(StoreJobsTest, StatisticsRoundIsStoredOnce) {
  StartJob("job-1");
  const RoundRecord stats = Round("job-1", 0, 1, "completed");
  const std::string standardization = "{\"age\":{\"mean\":61.5,\"sd\":14.2}}";
  ASSERT_OK(store_->CommitStatistics(stats, standardization, Audit("round.statistics", "job-1")));
  ASSERT_OK_AND_ASSIGN(JobRecord job, store_->GetJob("job-1"));
  EXPECT_EQ(job.standardization_json, standardization);
  EXPECT_EQ(job.rounds_completed, 0);
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds("job-1"));
  ASSERT_THAT(rounds, SizeIs(1));
  EXPECT_EQ(rounds[0].round, 0);
  EXPECT_EQ(rounds[0].outcome, "completed");
  EXPECT_EQ(rounds[0].metrics_json, stats.metrics_json);
  ASSERT_THAT(rounds[0].participants, SizeIs(4));
  EXPECT_EQ(rounds[0].participants[3].site_id, "uclh");
  EXPECT_EQ(rounds[0].participants[3].status, "refused");
  EXPECT_EQ(rounds[0].participants[3].detail, "epsilon budget exhausted");

  const std::vector<int64_t> before = Counts(*store_);
  RoundRecord again = stats;
  again.attempt = 2;
  EXPECT_THAT(store_->CommitStatistics(again, "{}", Audit("round.statistics", "job-1")),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(Counts(*store_), before);
  EXPECT_EQ(store_->GetJob("job-1").value().standardization_json, standardization);
}

TEST_P(StoreJobsTest, StatisticsRoundRefusesBadRecords) {
  StartJob("job-1");
  ASSERT_OK(store_->CreateJob(Job("job-idle"), Audit("job.created", "job-idle")));
  RoundRecord training = Round("job-1", 1, 1, "completed");
  RoundRecord aborted = Round("job-1", 0, 1, "aborted");
  RoundRecord odd_status = Round("job-1", 0, 1, "completed");
  odd_status.participants[0].status = "maybe";
  RoundRecord twice = Round("job-1", 0, 1, "completed");
  twice.participants.push_back({"rfh", "dropped", ""});
  const std::vector<int64_t> before = Counts(*store_);
  for (const RoundRecord& bad : {training, aborted, odd_status, twice}) {
    EXPECT_THAT(store_->CommitStatistics(bad, "{}", Audit("round.statistics", "job-1")),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(store_->CommitStatistics(Round("job-1", 0, 1, "completed"), "",
                                       Audit("round.statistics", "job-1")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->CommitStatistics(Round("job-idle", 0, 1, "completed"), "{}",
                                       Audit("round.statistics", "job-idle")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not running")));
  EXPECT_THAT(store_->CommitStatistics(Round("job-none", 0, 1, "completed"), "{}",
                                       Audit("round.statistics", "job-none")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Counts(*store_), before);
}

// ---------------------------------------------------------------- rounds

TEST_P(StoreJobsTest, CommitRoundStoresEverythingOfTheRound) {
  StartJob("job-1");
  const RoundCommit commit = Commit("job-1", 1);
  ASSERT_OK(store_->CommitRound(commit));

  ASSERT_OK_AND_ASSIGN(JobRecord job, store_->GetJob("job-1"));
  EXPECT_EQ(job.rounds_completed, 1);
  EXPECT_EQ(job.updated_at, commit.audit.time);
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds("job-1"));
  ASSERT_THAT(rounds, SizeIs(1));
  EXPECT_EQ(rounds[0].round, 1);
  EXPECT_EQ(rounds[0].attempt, 1);
  EXPECT_EQ(rounds[0].started_at, commit.round.started_at);
  EXPECT_EQ(rounds[0].finished_at, commit.round.finished_at);
  EXPECT_EQ(rounds[0].metrics_json, commit.round.metrics_json);
  ASSERT_THAT(rounds[0].participants, SizeIs(4));
  for (size_t i = 0; i < 4; ++i) {  // in the order given
    EXPECT_EQ(rounds[0].participants[i].site_id, commit.round.participants[i].site_id);
    EXPECT_EQ(rounds[0].participants[i].status, commit.round.participants[i].status);
    EXPECT_EQ(rounds[0].participants[i].detail, commit.round.participants[i].detail);
  }
  ASSERT_OK_AND_ASSIGN(CheckpointRecord latest, store_->LatestCheckpoint("job-1"));
  EXPECT_EQ(latest.round, 1);
  EXPECT_EQ(latest.parameters, Parameters(1));
  EXPECT_EQ(latest.parameters_sha256, crypto::Sha256Hex(Parameters(1)));
  EXPECT_EQ(latest.optimizer_state, "adam state 1");
  ASSERT_OK_AND_ASSIGN(auto ledger, store_->ListLedger("job-1"));
  ASSERT_THAT(ledger, SizeIs(2));
  EXPECT_EQ(ledger[0].site_id, "guys");  // ordered by site
  EXPECT_EQ(ledger[1].site_id, "rfh");
  EXPECT_EQ(ledger[1].dataset, "readmissions");
  EXPECT_EQ(ledger[1].event_json, commit.ledger[0].event_json);
  EXPECT_EQ(ledger[1].recorded_at, commit.ledger[0].recorded_at);
  ASSERT_OK_AND_ASSIGN(auto audit, store_->ReadAudit(3, 10));
  ASSERT_THAT(audit, SizeIs(1));
  EXPECT_EQ(audit[0].event.action, "round.committed");
  ExpectChainVerifies(*store_, 4);
}

TEST_P(StoreJobsTest, CommittingARoundAgainChangesNothing) {
  StartJob("job-1");
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1)));
  const std::vector<int64_t> before = Counts(*store_);
  EXPECT_THAT(store_->CommitRound(Commit("job-1", 1)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already committed")));
  // Also under another attempt number, and once the job has finished.
  EXPECT_THAT(store_->CommitRound(Commit("job-1", 1, 2)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK(
      store_->SetJobState("job-1", JobState::kCompleted, "", Audit("job.completed", "job-1")));
  EXPECT_THAT(store_->CommitRound(Commit("job-1", 1)), StatusIs(absl::StatusCode::kAlreadyExists));
  std::vector<int64_t> expected = before;
  expected.back() += 1;  // the completion's audit entry
  EXPECT_EQ(Counts(*store_), expected);
  EXPECT_EQ(store_->GetJob("job-1").value().rounds_completed, 1);
}

TEST_P(StoreJobsTest, RoundsAreCommittedInOrderOnRunningJobs) {
  StartJob("job-1");
  ASSERT_OK(store_->CreateJob(Job("job-idle"), Audit("job.created", "job-idle")));
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1)));
  const std::vector<int64_t> before = Counts(*store_);
  EXPECT_THAT(store_->CommitRound(Commit("job-1", 3)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cannot be next")));
  EXPECT_THAT(store_->CommitRound(Commit("job-idle", 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not running")));
  EXPECT_THAT(store_->CommitRound(Commit("job-none", 1)), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->CommitRound(Commit("job-1", 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Counts(*store_), before);
  ASSERT_OK(store_->CommitRound(Commit("job-1", 2)));
  EXPECT_EQ(store_->GetJob("job-1").value().rounds_completed, 2);
}

TEST_P(StoreJobsTest, CommitRoundRefusesInconsistentCommitsAndWritesNothing) {
  StartJob("job-1");
  std::vector<std::pair<std::string, RoundCommit>> bad;
  bad.emplace_back("aborted outcome", Commit("job-1", 1));
  bad.back().second.round.outcome = "aborted";
  bad.emplace_back("checkpoint hash mismatch", Commit("job-1", 1));
  bad.back().second.checkpoint.parameters[0] ^= 0x01;
  bad.emplace_back("checkpoint of another round", Commit("job-1", 1));
  bad.back().second.checkpoint = Checkpoint("job-1", 2);
  bad.emplace_back("checkpoint of another size", Commit("job-1", 1));
  bad.back().second.checkpoint.parameters += "abcd";
  bad.back().second.checkpoint.parameters_sha256 = crypto::Sha256Hex(bad.back().second.checkpoint.parameters);
  bad.emplace_back("ledger row for a dropped site", Commit("job-1", 1));
  bad.back().second.ledger[0].site_id = "kch";
  bad.emplace_back("ledger row twice", Commit("job-1", 1));
  bad.back().second.ledger[1].site_id = "rfh";
  bad.emplace_back("ledger row missing", Commit("job-1", 1));
  bad.back().second.ledger.pop_back();
  bad.emplace_back("ledger row of another round", Commit("job-1", 1));
  bad.back().second.ledger[0].round = 2;
  bad.emplace_back("participant twice", Commit("job-1", 1));
  bad.back().second.round.participants.push_back({"guys", "dropped", ""});
  bad.emplace_back("negative keep", Commit("job-1", 1));
  bad.back().second.keep_checkpoints = -1;
  const std::vector<int64_t> before = Counts(*store_);
  for (const auto& [label, commit] : bad) {
    EXPECT_THAT(store_->CommitRound(commit), StatusIs(absl::StatusCode::kInvalidArgument)) << label;
  }
  EXPECT_EQ(Counts(*store_), before);
  EXPECT_EQ(store_->GetJob("job-1").value().rounds_completed, 0);
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1)));
}

// A failure in the middle of the transaction (injected with triggers, after
// the round, participants and checkpoint rows are written) leaves no trace.
TEST_P(StoreJobsTest, CommitRoundIsAtomicWhenAWriteFailsHalfway) {
  StartJob("job-1");
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1)));
  const std::vector<int64_t> before = Counts(*store_);
  ASSERT_OK_AND_ASSIGN(AuditCheck head, store_->VerifyAuditChain());

  for (const char* trigger :
       {"CREATE TRIGGER fail_ledger BEFORE INSERT ON ledger WHEN NEW.site_id = 'guys' "
        "BEGIN SELECT RAISE(ABORT, 'injected ledger failure'); END",
        "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END"}) {
    ASSERT_OK(store_->database().Exec(trigger));
    // INTERNAL, not ALREADY_EXISTS: a caller must not take it for a retry of
    // a committed round.
    EXPECT_THAT(store_->CommitRound(Commit("job-1", 2, 1, /*keep=*/1)),
                StatusIs(absl::StatusCode::kInternal, HasSubstr("injected")))
        << trigger;
    EXPECT_EQ(Counts(*store_), before) << trigger;
    ASSERT_OK_AND_ASSIGN(JobRecord job, store_->GetJob("job-1"));
    EXPECT_EQ(job.rounds_completed, 1);
    // Pruning ran before the audit insert failed; its deletions are undone.
    EXPECT_OK(store_->GetCheckpoint("job-1", 1).status());
    EXPECT_THAT(store_->GetCheckpoint("job-1", 2), StatusIs(absl::StatusCode::kNotFound));
    ASSERT_OK_AND_ASSIGN(AuditCheck check, store_->VerifyAuditChain());
    EXPECT_EQ(check.head_hash, head.head_hash);
    EXPECT_FALSE(check.first_bad.has_value());
    ASSERT_OK(
        store_->database().Exec("DROP TRIGGER IF EXISTS fail_ledger; "
                                "DROP TRIGGER IF EXISTS fail_audit"));
  }
  // Nothing half-written blocks the retry.
  ASSERT_OK(store_->CommitRound(Commit("job-1", 2)));
  EXPECT_EQ(store_->GetJob("job-1").value().rounds_completed, 2);
  ExpectChainVerifies(*store_, 5);
}

TEST_P(StoreJobsTest, PruningKeepsTheNewestCheckpointsAndTheInitialOne) {
  StartJob("job-1");
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1, 1, /*keep=*/0)));
  ASSERT_OK(store_->CommitRound(Commit("job-1", 2, 1, /*keep=*/0)));
  EXPECT_EQ(Count(*store_, "checkpoints"), 3);  // 0, 1, 2: keep 0 keeps all
  for (int64_t round = 3; round <= 6; ++round) {
    ASSERT_OK(store_->CommitRound(Commit("job-1", round, 1, /*keep=*/2)));
  }
  Statement rounds =
      store_->database().Prepare("SELECT round FROM checkpoints ORDER BY round").value();
  std::vector<int64_t> kept;
  while (rounds.Step().value()) kept.push_back(rounds.ColumnInt(0));
  EXPECT_THAT(kept, ElementsAre(0, 5, 6));
  EXPECT_THAT(store_->GetCheckpoint("job-1", 4),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("pruned")));
  EXPECT_EQ(store_->GetCheckpoint("job-1", 0).value().parameters, Parameters(0));
  EXPECT_EQ(store_->LatestCheckpoint("job-1").value().round, 6);
  // Rounds and ledger rows of pruned checkpoints stay.
  EXPECT_THAT(store_->ListRounds("job-1").value(), SizeIs(6));
  EXPECT_THAT(store_->ListLedger("job-1").value(), SizeIs(12));
}

TEST_P(StoreJobsTest, PruningTouchesOnlyItsOwnJob) {
  StartJob("job-1");
  StartJob("job-2");
  ASSERT_OK(store_->CommitRound(Commit("job-2", 1)));
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1)));
  ASSERT_OK(store_->CommitRound(Commit("job-1", 2, 1, /*keep=*/1)));
  EXPECT_OK(store_->GetCheckpoint("job-2", 1).status());
  EXPECT_THAT(store_->GetCheckpoint("job-1", 1), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreJobsTest, AbortedAttemptsAreKeptBesideTheCompletedOne) {
  StartJob("job-1");
  ASSERT_OK(store_->RecordAbortedAttempt(Round("job-1", 0, 1, "aborted"),
                                         Audit("round.aborted", "job-1")));
  ASSERT_OK(store_->CommitStatistics(Round("job-1", 0, 2, "completed"), "{}",
                                     Audit("round.statistics", "job-1")));
  ASSERT_OK(store_->RecordAbortedAttempt(Round("job-1", 1, 1, "aborted"),
                                         Audit("round.aborted", "job-1")));
  ASSERT_OK(store_->RecordAbortedAttempt(Round("job-1", 1, 2, "aborted"),
                                         Audit("round.aborted", "job-1")));
  // The completed attempt cannot reuse an aborted attempt's number.
  EXPECT_THAT(store_->CommitRound(Commit("job-1", 1, 2)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("attempt 2")));
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1, 3)));
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ListRounds("job-1"));
  std::vector<std::string> order;
  for (const RoundRecord& r : rounds) {
    order.push_back(absl::StrCat(r.round, "/", r.attempt, " ", r.outcome));
  }
  EXPECT_THAT(order, ElementsAre("0/1 aborted", "0/2 completed", "1/1 aborted", "1/2 aborted",
                                 "1/3 completed"));
  EXPECT_EQ(rounds[2].reason, "too few sites reached the unmask stage");
  EXPECT_THAT(rounds[2].participants, SizeIs(4));
  ExpectChainVerifies(*store_, 3 + 5);
}

TEST_P(StoreJobsTest, AttemptNumbersAreNeverReusedAndInterruptedOnesAreFound) {
  StartJob("job-1");
  // An attempt recorded without StartAttempt (an older coordinator) still
  // counts when the next number is chosen.
  ASSERT_OK(store_->RecordAbortedAttempt(Round("job-1", 0, 1, "aborted"),
                                         Audit("round.aborted", "job-1")));
  EXPECT_THAT(store_->StartAttempt("job-1", 0, {"guys", "rfh"}, kNow),
              ::tessera::testing::IsOkAndHolds(2));
  // Attempt 2 was never recorded: a crash cut it short. The next attempt is
  // 3, not 2 again, and attempt 2 is reported as interrupted with its sites.
  EXPECT_THAT(store_->StartAttempt("job-1", 0, {"rfh"}, kNow + absl::Minutes(1)),
              ::tessera::testing::IsOkAndHolds(3));
  ASSERT_OK(store_->CommitStatistics(Round("job-1", 0, 3, "completed"), "{}",
                                     Audit("round.statistics", "job-1")));
  ASSERT_OK_AND_ASSIGN(auto interrupted, store_->InterruptedAttempts("job-1"));
  ASSERT_THAT(interrupted, SizeIs(1));
  EXPECT_EQ(interrupted[0].round, 0);
  EXPECT_EQ(interrupted[0].attempt, 2);
  EXPECT_EQ(interrupted[0].started_at, kNow);
  ASSERT_THAT(interrupted[0].participants, SizeIs(2));
  EXPECT_EQ(interrupted[0].participants[0].site_id, "guys");
  EXPECT_EQ(interrupted[0].participants[1].status, "dropped");
  // Recording it as aborted takes it off the list.
  RoundRecord aborted = interrupted[0];
  aborted.outcome = "aborted";
  aborted.reason = "the coordinator stopped during this attempt";
  aborted.finished_at = kNow + absl::Minutes(2);
  aborted.metrics_json = "{}";
  // Round 0 is committed now, so the attempt of round 0 can no longer be recorded.
  EXPECT_THAT(store_->RecordAbortedAttempt(aborted, Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Round 1: the next round starts at attempt 1.
  EXPECT_THAT(store_->StartAttempt("job-1", 1, {"rfh"}, kNow), ::tessera::testing::IsOkAndHolds(1));
  ASSERT_OK_AND_ASSIGN(interrupted, store_->InterruptedAttempts("job-1"));
  ASSERT_THAT(interrupted, SizeIs(2));
  aborted = interrupted[1];
  aborted.outcome = "aborted";
  aborted.reason = "the coordinator stopped during this attempt";
  aborted.finished_at = kNow + absl::Minutes(2);
  aborted.metrics_json = "{}";
  ASSERT_OK(store_->RecordAbortedAttempt(aborted, Audit("round.aborted", "job-1")));
  ASSERT_OK_AND_ASSIGN(interrupted, store_->InterruptedAttempts("job-1"));
  EXPECT_THAT(interrupted, SizeIs(1));  // round 0's attempt 2 stays interrupted
  EXPECT_THAT(store_->StartAttempt("job-1", 1, {"rfh"}, kNow), ::tessera::testing::IsOkAndHolds(2));

  // Refusals change nothing.
  const int64_t attempts = Count(*store_, "attempts");
  EXPECT_THAT(store_->StartAttempt("job-1", 1, {}, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->StartAttempt("job-1", 0, {"rfh"}, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // committed
  EXPECT_THAT(store_->StartAttempt("job-1", 3, {"rfh"}, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // round 2 comes first
  EXPECT_THAT(store_->StartAttempt("job-none", 1, {"rfh"}, kNow),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store_->CreateJob(Job("job-idle"), Audit("job.created", "job-idle")));
  EXPECT_THAT(store_->StartAttempt("job-idle", 0, {"rfh"}, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("never run")));
  EXPECT_EQ(Count(*store_, "attempts"), attempts);
  EXPECT_EQ(attempts, 4);
}

TEST_P(StoreJobsTest, BudgetsAreSetReplacedAndAudited) {
  const int64_t audit_before = Count(*store_, "audit_log");
  BudgetRecord budget{"rfh", "cohort", 3.0, 1e-5, "governance-carol", kNow, "board 2026-11"};
  ASSERT_OK(store_->SetBudget(budget, Audit("budget.set", "rfh/cohort")));
  budget.epsilon = 2.5;
  budget.reason = "lowered after review";
  ASSERT_OK(store_->SetBudget(budget, Audit("budget.set", "rfh/cohort", 5)));
  ASSERT_OK(store_->SetBudget({"guys", "cohort", 4.0, 1e-6, "governance-carol", kNow, ""},
                              Audit("budget.set", "guys/cohort")));
  ASSERT_OK_AND_ASSIGN(auto budgets, store_->ListBudgets());
  ASSERT_THAT(budgets, SizeIs(2));
  EXPECT_EQ(budgets[0].site_id, "guys");
  EXPECT_EQ(budgets[1].site_id, "rfh");
  EXPECT_EQ(budgets[1].epsilon, 2.5);
  EXPECT_EQ(budgets[1].reason, "lowered after review");
  EXPECT_EQ(Count(*store_, "audit_log"), audit_before + 3);

  for (BudgetRecord bad : {BudgetRecord{"", "cohort", 1, 1e-5, "carol", kNow, ""},
                           BudgetRecord{"rfh", "cohort", -1, 1e-5, "carol", kNow, ""},
                           BudgetRecord{"rfh", "cohort", std::nan(""), 1e-5, "carol", kNow, ""},
                           BudgetRecord{"rfh", "cohort", 1, 0, "carol", kNow, ""},
                           BudgetRecord{"rfh", "cohort", 1, 1, "carol", kNow, ""},
                           BudgetRecord{"rfh", "cohort", 1, 1e-5, "", kNow, ""}}) {
    EXPECT_THAT(store_->SetBudget(bad, Audit("budget.set", "x")),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(Count(*store_, "audit_log"), audit_before + 3);
}

TEST_P(StoreJobsTest, ReceiptsAreKeptOnceAndADifferentOneIsRefused) {
  StartJob("job-1");
  ReceiptRecord receipt{"job-1", 1, 1, "rfh", "receipt bytes", "signature", "PEM", kNow};
  EXPECT_THAT(store_->AddReceipt(receipt), ::tessera::testing::IsOkAndHolds(false));
  EXPECT_THAT(store_->AddReceipt(receipt), ::tessera::testing::IsOkAndHolds(true));
  ReceiptRecord other = receipt;
  other.signature = "another signature";
  EXPECT_THAT(store_->AddReceipt(other), StatusIs(absl::StatusCode::kAlreadyExists));
  other.attempt = 2;
  EXPECT_THAT(store_->AddReceipt(other), ::tessera::testing::IsOkAndHolds(false));
  ReceiptRecord unknown = receipt;
  unknown.job_id = "job-none";
  EXPECT_THAT(store_->AddReceipt(unknown), StatusIs(absl::StatusCode::kNotFound));
  ReceiptRecord empty = receipt;
  empty.signature = "";
  EXPECT_THAT(store_->AddReceipt(empty), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto receipts, store_->ListReceipts("job-1"));
  ASSERT_THAT(receipts, SizeIs(2));
  EXPECT_EQ(receipts[0].signature, "signature");
  EXPECT_EQ(receipts[1].attempt, 2);
  EXPECT_EQ(receipts[1].receipt, "receipt bytes");
  EXPECT_THAT(store_->ListReceipts("job-none"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreJobsTest, OnlyTheTrueHashOfAnEntryIsRecordedAsASignedHead) {
  StartJob("job-1");
  ASSERT_OK_AND_ASSIGN(auto entries, store_->ReadAudit(0, 100));
  ASSERT_GE(entries.size(), 2u);
  const AuditEntry& second = entries[1];
  AuditHeadRecord head{second.sequence, second.hash, kNow, "signature", "PEM"};
  AuditHeadRecord wrong = head;
  wrong.hash = entries[0].hash;
  EXPECT_THAT(store_->RecordAuditHead(wrong), StatusIs(absl::StatusCode::kInvalidArgument));
  wrong = head;
  wrong.sequence = 999;
  EXPECT_THAT(store_->RecordAuditHead(wrong), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store_->RecordAuditHead(head));
  EXPECT_THAT(store_->RecordAuditHead(head), StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(auto heads, store_->ListAuditHeads(0));
  ASSERT_THAT(heads, SizeIs(1));
  EXPECT_EQ(heads[0].hash, second.hash);
  EXPECT_EQ(heads[0].signature, "signature");
  EXPECT_THAT(store_->ListAuditHeads(second.sequence).value(), SizeIs(0));
}

TEST_P(StoreJobsTest, AbortedAttemptRefusesWhatCannotHaveHappened) {
  StartJob("job-1");
  ASSERT_OK(store_->CreateJob(Job("job-idle"), Audit("job.created", "job-idle")));
  ASSERT_OK(store_->CommitRound(Commit("job-1", 1)));
  ASSERT_OK(store_->RecordAbortedAttempt(Round("job-1", 2, 1, "aborted"),
                                         Audit("round.aborted", "job-1")));
  const std::vector<int64_t> before = Counts(*store_);
  RoundRecord no_reason = Round("job-1", 2, 2, "aborted");
  no_reason.reason = "";
  EXPECT_THAT(store_->RecordAbortedAttempt(no_reason, Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-1", 2, 2, "completed"),
                                           Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-1", 2, 1, "aborted"),
                                           Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-1", 1, 2, "aborted"),
                                           Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // round 1 is committed
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-1", 4, 1, "aborted"),
                                           Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // round 3 comes first
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-1", 0, 1, "aborted"),
                                           Audit("round.aborted", "job-1")),
              StatusIs(absl::StatusCode::kFailedPrecondition));  // training has begun
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-idle", 1, 1, "aborted"),
                                           Audit("round.aborted", "job-idle")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("never run")));
  EXPECT_THAT(store_->RecordAbortedAttempt(Round("job-none", 1, 1, "aborted"),
                                           Audit("round.aborted", "job-none")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Counts(*store_), before);
  // A job stopped mid-round still records the attempt the stop ended.
  ASSERT_OK(store_->SetJobState("job-1", JobState::kStopped, "operator stop",
                                Audit("job.stopped", "job-1")));
  EXPECT_OK(store_->RecordAbortedAttempt(Round("job-1", 2, 2, "aborted"),
                                         Audit("round.aborted", "job-1")));
}

TEST_P(StoreJobsTest, ListsOfUnknownJobsAreNotFound) {
  EXPECT_THAT(store_->ListRounds("job-none"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ListLedger("job-none"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetCheckpoint("job-none", 0), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->LatestCheckpoint("job-none"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ListLedger(""), ::tessera::testing::IsOkAndHolds(SizeIs(0)));
}

TEST_P(StoreJobsTest, LedgerOfEveryJobIsOrderedByJobRoundAndSite) {
  StartJob("job-b");
  StartJob("job-a");
  ASSERT_OK(store_->CommitRound(Commit("job-b", 1)));
  ASSERT_OK(store_->CommitRound(Commit("job-a", 1)));
  ASSERT_OK(store_->CommitRound(Commit("job-b", 2)));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListLedger(""));
  std::vector<std::string> keys;
  for (const LedgerRecord& row : all) {
    keys.push_back(absl::StrCat(row.job_id, "/", row.round, "/", row.site_id));
  }
  EXPECT_THAT(keys, ElementsAre("job-a/1/guys", "job-a/1/rfh", "job-b/1/guys", "job-b/1/rfh",
                                "job-b/2/guys", "job-b/2/rfh"));
  EXPECT_THAT(store_->ListLedger("job-a").value(), SizeIs(2));
}

TEST_P(StoreJobsTest, ConcurrentWritersKeepOneUnbrokenChain) {
  // Two threads commit rounds of their own jobs while a third appends plain
  // audit entries; the mutex must keep every transaction whole.
  StartJob("job-1");
  StartJob("job-2");
  constexpr int kRounds = 8;
  auto run = [this](const std::string& id) {
    for (int64_t round = 1; round <= kRounds; ++round) {
      EXPECT_OK(store_->CommitRound(Commit(id, round, 1, /*keep=*/3)));
    }
  };
  std::thread one(run, "job-1");
  std::thread two(run, "job-2");
  std::thread three([this] {
    for (int i = 0; i < kRounds; ++i) {
      EXPECT_OK(store_->AppendAudit(Audit("site.enrolled", "rfh", i)).status());
    }
  });
  one.join();
  two.join();
  three.join();
  EXPECT_EQ(store_->GetJob("job-1").value().rounds_completed, kRounds);
  EXPECT_EQ(store_->GetJob("job-2").value().rounds_completed, kRounds);
  EXPECT_EQ(Count(*store_, "checkpoints"), 2 * (1 + 3));
  ExpectChainVerifies(*store_, 2 * 3 + 3 * kRounds);
}

// ------------------------------------------------------- files on disk

TEST(StoreFileTest, ReopeningReturnsTheSameData) {
  TempDir dir;
  const std::string path = dir.File("coordinator.db");
  std::string head;
  {
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
    const NewJob job = Job("job-1");
    ASSERT_OK(store->CreateJob(job, Audit("job.created", "job-1")));
    ASSERT_OK(store->SaveInitialCheckpoint(Checkpoint("job-1", 0)));
    ASSERT_OK(store->RecordDecision("job-1", Approval(job), Audit("job.approved", "job-1")));
    ASSERT_OK(store->SetJobState("job-1", JobState::kRunning, "", Audit("job.started", "job-1")));
    ASSERT_OK(store->CommitStatistics(Round("job-1", 0, 1, "completed"), "{\"sd\":2}",
                                      Audit("round.statistics", "job-1")));
    ASSERT_OK(store->RecordAbortedAttempt(Round("job-1", 1, 1, "aborted"),
                                          Audit("round.aborted", "job-1")));
    ASSERT_OK(store->CommitRound(Commit("job-1", 1, 2)));
    head = store->VerifyAuditChain().value().head_hash;
  }
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
  ASSERT_OK_AND_ASSIGN(JobRecord job, store->GetJob("job-1"));
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.rounds_completed, 1);
  EXPECT_EQ(job.standardization_json, "{\"sd\":2}");
  EXPECT_EQ(job.spec_json, Job("job-1").spec_json);
  ASSERT_TRUE(job.decision.has_value());
  EXPECT_EQ(job.decision->approver, "governance-carol");
  ASSERT_OK_AND_ASSIGN(auto rounds, store->ListRounds("job-1"));
  ASSERT_THAT(rounds, SizeIs(3));
  EXPECT_EQ(rounds[1].outcome, "aborted");
  EXPECT_EQ(rounds[2].attempt, 2);
  EXPECT_THAT(rounds[2].participants, SizeIs(4));
  ASSERT_OK_AND_ASSIGN(CheckpointRecord latest, store->LatestCheckpoint("job-1"));
  EXPECT_EQ(latest.round, 1);
  EXPECT_EQ(latest.parameters, Parameters(1));
  EXPECT_EQ(latest.optimizer_state, "adam state 1");
  EXPECT_THAT(store->ListLedger("").value(), SizeIs(2));
  ASSERT_OK_AND_ASSIGN(AuditCheck check, store->VerifyAuditChain());
  EXPECT_EQ(check.entries, 6);  // the initial checkpoint has no entry of its own
  EXPECT_EQ(check.head_hash, head);
  EXPECT_EQ(store->database().SchemaVersion().value(), 4);
}

TEST(StoreFileTest, MigratesAVersionOneFileKeepingItsSitesAndAuditChain) {
  TempDir dir;
  const std::string path = dir.File("coordinator.db");
  std::string v1_head;
  {
    // Schema version 1 as it was released (a frozen copy, so a later edit of
    // migration 1 in store.cc cannot make this test pass by accident).
    DatabaseOptions v1;
    v1.application_id = 0x5453434F;  // "TSCO"
    v1.description = "coordinator database";
    v1.migrations = {{1, R"sql(
        CREATE TABLE sites (
          site_id TEXT PRIMARY KEY,
          certificate_serial TEXT NOT NULL,
          certificate_expires_ms INTEGER NOT NULL,
          enrolled_at_ms INTEGER,
          enrolled_by TEXT,
          last_seen_ms INTEGER
        );
        CREATE TABLE audit_log (
          sequence INTEGER PRIMARY KEY,
          time_ms INTEGER NOT NULL,
          actor TEXT NOT NULL,
          actor_role TEXT NOT NULL,
          action TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL,
          previous_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
      )sql"}};
    ASSERT_OK_AND_ASSIGN(auto db, Database::Open(path, v1));
    ASSERT_EQ(db->SchemaVersion().value(), 1);
    ASSERT_OK(db->Exec(
        "INSERT INTO sites VALUES ('rfh', '1A', 1900000000000, 1800000000000, 'alice', NULL);"
        "INSERT INTO sites VALUES ('guys', '2B', 1900000000000, NULL, NULL, 1800000060000);"));
    std::string previous(64, '0');
    for (int sequence = 1; sequence <= 3; ++sequence) {
      const AuditEvent event = Audit("site.enrolled", absl::StrCat("site-", sequence), sequence);
      const std::string hash = AuditHash(previous, sequence, event);
      Statement insert =
          db->Prepare("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").value();
      insert.Bind(1, int64_t{sequence})
          .Bind(2, absl::ToUnixMillis(event.time))
          .Bind(3, event.actor)
          .Bind(4, event.actor_role)
          .Bind(5, event.action)
          .Bind(6, event.subject)
          .Bind(7, event.details)
          .Bind(8, previous)
          .Bind(9, hash);
      ASSERT_OK(insert.Run());
      previous = hash;
    }
    v1_head = previous;
  }

  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
  EXPECT_EQ(store->database().SchemaVersion().value(), 4);
  ASSERT_OK_AND_ASSIGN(auto sites, store->ListSites());
  ASSERT_THAT(sites, SizeIs(2));
  EXPECT_EQ(sites[1].site_id, "rfh");
  EXPECT_EQ(sites[1].enrolled_by, "alice");
  EXPECT_EQ(sites[0].last_seen, absl::FromUnixMillis(1800000060000));
  ASSERT_OK_AND_ASSIGN(AuditCheck migrated, store->VerifyAuditChain());
  EXPECT_EQ(migrated.entries, 3);
  EXPECT_FALSE(migrated.first_bad.has_value()) << migrated.problem;
  EXPECT_EQ(migrated.head_hash, v1_head);

  // The new tables work, and their entries continue the old chain.
  ASSERT_OK(store->CreateJob(Job("job-1"), Audit("job.created", "job-1")));
  ASSERT_OK_AND_ASSIGN(auto fourth, store->ReadAudit(3, 1));
  ASSERT_THAT(fourth, SizeIs(1));
  EXPECT_EQ(fourth[0].previous_hash, v1_head);
  ExpectChainVerifies(*store, 4);
  EXPECT_OK(store->database().CheckIntegrity());
  ASSERT_OK(store->RecordDecision("job-1", Approval(Job("job-1")), Audit("job.approved", "job-1")));
  EXPECT_THAT(store->StartAttempt("job-1", 0, {"rfh"}, kNow), ::tessera::testing::IsOkAndHolds(1));
}

}  // namespace
}  // namespace tessera::coordinator
