// What `tessera job ...` prints, from given Admin replies: the list table
// and JSON, `job show`, what governance is asked to approve, the
// confirmation, and `job watch`'s events, live line and exit status.
//
// Replies are built here by hand; the job's settings are the canonical JSON
// of a real job file (CanonicalJson of ParseJobSpec), so the views are
// checked against what the coordinator really stores.
#include "coordinator/cli/job_commands.h"

#include <cmath>
#include <sstream>

#include "absl/strings/str_split.h"
#include "common/cli.h"
#include "common/config.h"
#include "coordinator/job/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::cli {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using tessera::v1::GetJobResponse;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kJob[] = R"([job]
name = "diabetes-readmission"
description = "30-day readmission"
dataset = "diabetes"
[model]
kind = "mlp"
hidden = [32, 16]
[schema]
label = "readmitted"
features = ["age", "sex"]
[schema.columns.age]
type = "numeric"
min = 0
max = 120
[schema.columns.sex]
type = "categorical"
categories = ["female", "male"]
[schema.columns.readmitted]
type = "binary"
[split]
seed = 7
[training]
learning_rate = 0.01
batch_size = 64
[strategy]
name = "fedprox"
proximal_mu = 0.01
[rounds]
count = 20
min_sites = 3
max_sites = 4
stage_timeout_seconds = 30
[privacy]
mode = "record"
epsilon = 3.0
delta = 1e-5
clip_norm = 1.5
[secure_aggregation]
threshold = 2
)";

std::string CanonicalSpec(const std::string& toml) {
  auto reader = ConfigReader::FromString(toml, "job.toml");
  EXPECT_THAT(reader.status(), IsOk());
  auto spec = coordinator::ParseJobSpec(*reader);
  EXPECT_THAT(spec.status(), IsOk());
  return spec.ok() ? coordinator::CanonicalJson(*spec) : "{}";
}

std::string NonPrivateSpec() {
  std::string toml = kJob;
  const std::string privacy = "mode = \"record\"\nepsilon = 3.0\ndelta = 1e-5\nclip_norm = 1.5\n";
  toml.replace(toml.find(privacy), privacy.size(), "mode = \"none\"\n");
  return CanonicalSpec(toml);
}

const absl::Time kNow = absl::FromUnixSeconds(1'790'000'000);
int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

tessera::v1::RoundSummary Round(uint32_t round, uint32_t attempt, const std::string& outcome,
                                const std::string& metrics_json) {
  tessera::v1::RoundSummary r;
  r.set_round(round);
  r.set_attempt(attempt);
  r.set_outcome(outcome);
  r.set_started_unix_ms(Ms(kNow - absl::Seconds(100)));
  r.set_finished_unix_ms(Ms(kNow - absl::Seconds(58)));
  r.set_metrics_json(metrics_json);
  for (const char* site : {"rfh", "gosh", "uclh"}) {
    auto* p = r.add_participants();
    p->set_site_id(site);
    p->set_status("included");
  }
  return r;
}

// A running job: rounds 1 and 2 done, round 3 in its masked-input stage.
GetJobResponse RunningJob() {
  GetJobResponse job;
  auto* s = job.mutable_summary();
  s->set_job_id("job-0a1b2c3d4e5f");
  s->set_name("diabetes-readmission");
  s->set_state("running");
  s->set_rounds_completed(2);
  s->set_rounds_total(20);
  s->set_privacy_mode("record");
  s->set_submitted_by("alice");
  s->set_submitted_unix_ms(Ms(kNow - absl::Hours(3)));
  job.set_spec_json(CanonicalSpec(kJob));
  job.set_spec_sha256(std::string(64, 'e'));
  job.set_model_sha256(std::string(64, 'a'));
  job.set_parameter_count(641);
  job.set_decided_by("bob");
  job.set_decided_unix_ms(Ms(kNow - absl::Hours(2)));
  job.set_approved(true);
  *job.add_rounds() = Round(0, 1, "completed", R"({"sites":3})");
  *job.add_rounds() = Round(
      1, 1, "completed", R"({"sites":3,"examples":900,"loss":0.69314,"accuracy":0.5,"auc":0.55})");
  tessera::v1::RoundSummary aborted = Round(2, 1, "aborted", "{}");
  aborted.set_reason("only 2 trusts survived; 3 needed");
  aborted.mutable_participants(2)->set_status("dropped");
  aborted.mutable_participants(2)->set_detail("missed the masked input deadline");
  *job.add_rounds() = aborted;
  *job.add_rounds() = Round(
      2, 2, "completed", R"({"sites":3,"examples":900,"loss":0.61234,"accuracy":0.75,"auc":0.8})");
  job.set_in_progress(true);
  auto* p = job.mutable_progress();
  p->set_round(3);
  p->set_attempt(1);
  p->set_kind(tessera::v1::ROUND_KIND_TRAINING);
  p->set_stage(tessera::v1::STAGE_MASKED_INPUT);
  p->set_stage_name("masked input");
  p->set_sites_selected(4);
  p->set_sites_reported(2);
  p->set_sites_needed(3);
  p->add_waiting_for("gosh");
  p->add_waiting_for("uclh");
  p->set_stage_started_unix_ms(Ms(kNow - absl::Seconds(12)));
  p->set_stage_deadline_unix_ms(Ms(kNow + absl::Seconds(18)));
  return job;
}

GetJobResponse PendingJob(const std::string& spec_json) {
  GetJobResponse job;
  auto* s = job.mutable_summary();
  s->set_job_id("job-000000000001");
  s->set_name("diabetes-readmission");
  s->set_state("pending approval");
  s->set_rounds_total(20);
  s->set_submitted_by("alice");
  s->set_submitted_unix_ms(Ms(kNow));
  job.set_spec_json(spec_json);
  job.set_spec_sha256(std::string(64, 'e'));
  job.set_model_sha256(std::string(64, 'a'));
  job.set_parameter_count(641);
  return job;
}

// ------------------------------------------------------------------ list

TEST(JobListTest, TableHasOneRowPerJobWithRoundsAndReason) {
  tessera::v1::ListJobsResponse jobs;
  *jobs.add_jobs() = RunningJob().summary();
  auto* waiting = jobs.add_jobs();
  waiting->set_job_id("job-222222222222");
  waiting->set_name("sepsis");
  waiting->set_state("approved");
  waiting->set_rounds_total(5);
  waiting->set_privacy_mode("site");
  waiting->set_submitted_by("carol");
  waiting->set_waiting_reason("2 of 3 trusts connected");
  auto* rejected = jobs.add_jobs();
  rejected->set_job_id("job-333333333333");
  rejected->set_name("copd");
  rejected->set_state("rejected");
  rejected->set_state_reason("use privacy mode record");

  const std::string table = FormatJobTable(jobs);
  std::vector<std::string> lines = absl::StrSplit(table, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << table;
  EXPECT_THAT(lines[0], AllOf(HasSubstr("ID"), HasSubstr("STATE"), HasSubstr("ROUNDS"),
                              HasSubstr("PRIVACY"), HasSubstr("SUBMITTED BY")));
  EXPECT_THAT(lines[1], AllOf(HasSubstr("job-0a1b2c3d4e5f"), HasSubstr("running"),
                              HasSubstr("2/20"), HasSubstr("record"), HasSubstr("alice")));
  EXPECT_THAT(lines[2],
              AllOf(HasSubstr("0/5"), HasSubstr("site"), HasSubstr("2 of 3 trusts connected")));
  // A job that ended shows why instead of a waiting reason; unknown totals show as "?".
  EXPECT_THAT(lines[3], AllOf(HasSubstr("0/?"), HasSubstr("use privacy mode record")));
  // Columns line up: every row has the state at the header's offset.
  EXPECT_EQ(lines[1].find("running"), lines[0].find("STATE"));
  EXPECT_EQ(lines[3].find("rejected"), lines[0].find("STATE"));
}

TEST(JobListTest, EmptyListSaysHowToSubmit) {
  EXPECT_THAT(FormatJobTable({}), HasSubstr("tessera job submit"));
  EXPECT_EQ(JobListJson({}).dump(), R"({"jobs":[]})");
}

TEST(JobListTest, JsonCarriesEveryField) {
  tessera::v1::ListJobsResponse jobs;
  *jobs.add_jobs() = RunningJob().summary();
  const nlohmann::json out = JobListJson(jobs);
  ASSERT_EQ(out["jobs"].size(), 1u);
  const nlohmann::json& job = out["jobs"][0];
  EXPECT_EQ(job["job_id"], "job-0a1b2c3d4e5f");
  EXPECT_EQ(job["state"], "running");
  EXPECT_EQ(job["rounds_completed"], 2);
  EXPECT_EQ(job["rounds_total"], 20);
  EXPECT_EQ(job["privacy_mode"], "record");
  EXPECT_EQ(job["submitted_by"], "alice");
  // kNow is 2026-09-21T14:13:20Z (date -u -d @1790000000); submitted 3 h before.
  EXPECT_EQ(job["submitted"], "2026-09-21T11:13:20+00:00");
  EXPECT_EQ(job["waiting_reason"], "");
}

// ------------------------------------------------------------------ show

TEST(JobShowTest, SettingsNameWhatTheJobDoes) {
  const std::string text = FormatJobSettings(RunningJob(), 0);
  EXPECT_THAT(text, HasSubstr("multilayer perceptron, hidden layers 32-16 (ReLU), 641 parameters"));
  EXPECT_THAT(text, HasSubstr(std::string(64, 'a')));  // model sha256
  EXPECT_THAT(text, HasSubstr(std::string(64, 'e')));  // job sha256
  EXPECT_THAT(text, HasSubstr("2 features, in model input order"));
  EXPECT_THAT(text, HasSubstr("age: numeric, 0 to 120"));
  EXPECT_THAT(text, HasSubstr("sex: categorical: female, male"));
  EXPECT_THAT(text, HasSubstr("readmitted: binary"));
  EXPECT_THAT(text, HasSubstr("record-level differential privacy"));
  EXPECT_THAT(text, HasSubstr("target epsilon 3 per trust, delta 1e-05, clip norm 1.5"));
  EXPECT_THAT(text, HasSubstr("20 rounds of 3 to 4 trusts, stage timeout 30 s"));
  EXPECT_THAT(text, HasSubstr("fedprox (weighted, server_learning_rate=1, proximal_mu=0.01)"));
  EXPECT_THAT(text, HasSubstr("threshold 2, complete graph, 32-bit"));
  EXPECT_THAT(text, HasSubstr("batch size 64"));
  EXPECT_THAT(text, HasSubstr("(seed 7)"));
}

TEST(JobShowTest, ShowsDecisionRoundsParticipantsAndProgress) {
  const std::string text = FormatJob(RunningJob(), kNow);
  EXPECT_THAT(text, HasSubstr("job job-0a1b2c3d4e5f  diabetes-readmission"));
  EXPECT_THAT(text, HasSubstr("approved by bob on 2026-09-21 12:13 UTC"));
  // Metrics as the table prints them: loss to 4 places, accuracy and AUC to 3.
  EXPECT_THAT(text, HasSubstr("0.6931"));
  EXPECT_THAT(text, HasSubstr("0.6123"));
  EXPECT_THAT(text, HasSubstr("0.750"));
  EXPECT_THAT(text, HasSubstr("0 (stats)"));
  EXPECT_THAT(text, HasSubstr("42s"));  // 100 s - 58 s per round
  EXPECT_THAT(text, HasSubstr("uclh dropped (missed the masked input deadline)"));
  EXPECT_THAT(text, HasSubstr("aborted: only 2 trusts survived; 3 needed"));
  EXPECT_THAT(text, HasSubstr("round 3/20 attempt 1, stage masked input: 2 of 4 trusts "
                              "reported (3 needed), 12s in stage, deadline in 18s"));
  EXPECT_THAT(text, HasSubstr("waiting on     gosh, uclh"));
  EXPECT_THAT(text, HasSubstr("tessera job watch job-0a1b2c3d4e5f"));
}

TEST(JobShowTest, PendingJobSaysWhoMustApprove) {
  const std::string text = FormatJob(PendingJob(CanonicalSpec(kJob)), kNow);
  EXPECT_THAT(text, HasSubstr("not decided yet"));
  EXPECT_THAT(text, HasSubstr("tessera job approve job-000000000001"));
  EXPECT_THAT(text, Not(HasSubstr("ROUND")));
}

TEST(JobShowTest, JsonHasSpecMetricsAndProgressAsObjects) {
  const nlohmann::json out = JobJson(RunningJob());
  EXPECT_EQ(out["spec"]["model"]["kind"], "mlp");
  EXPECT_EQ(out["spec"]["privacy"]["epsilon"], 3.0);
  EXPECT_EQ(out["model_sha256"], std::string(64, 'a'));
  EXPECT_EQ(out["parameter_count"], 641);
  EXPECT_EQ(out["decision"]["approved"], true);
  EXPECT_EQ(out["decision"]["decided_by"], "bob");
  ASSERT_EQ(out["rounds"].size(), 4u);
  EXPECT_DOUBLE_EQ(out["rounds"][1]["metrics"]["loss"].get<double>(), 0.69314);
  EXPECT_EQ(out["rounds"][2]["outcome"], "aborted");
  EXPECT_EQ(out["rounds"][2]["participants"][2]["status"], "dropped");
  EXPECT_EQ(out["progress"]["stage"], "masked input");
  EXPECT_EQ(out["progress"]["sites_reported"], 2);
  EXPECT_EQ(out["progress"]["waiting_for"], nlohmann::json({"gosh", "uclh"}));

  const nlohmann::json pending = JobJson(PendingJob(CanonicalSpec(kJob)));
  EXPECT_TRUE(pending["decision"].is_null());
  EXPECT_TRUE(pending["progress"].is_null());
}

TEST(JobShowTest, MissingOrBrokenSpecShowsDashesNotErrors) {
  GetJobResponse job = PendingJob("not json");
  const std::string text = FormatJob(job, kNow);
  EXPECT_THAT(text, HasSubstr("dataset        -"));
  EXPECT_TRUE(JobJson(job)["spec"].empty());
}

// --------------------------------------------------------------- approve

TEST(JobApproveTest, ShowsEverythingBeingApproved) {
  const std::string text = FormatApproval(PendingJob(CanonicalSpec(kJob)));
  EXPECT_THAT(text, HasSubstr("approve job job-000000000001 \"diabetes-readmission\", "
                              "submitted by alice"));
  EXPECT_THAT(text, HasSubstr(std::string(64, 'a')));
  EXPECT_THAT(text, HasSubstr("age: numeric"));
  EXPECT_THAT(text, HasSubstr("target epsilon 3 per trust"));
  EXPECT_THAT(text, HasSubstr("20 rounds"));
  EXPECT_THAT(text, HasSubstr("fedprox"));
  EXPECT_THAT(text, Not(HasSubstr("WITHOUT differential privacy")));
}

TEST(JobApproveTest, NonPrivateJobNeedsTheExplicitFlag) {
  const GetJobResponse job = PendingJob(NonPrivateSpec());
  EXPECT_THAT(FormatApproval(job), HasSubstr("WITHOUT differential privacy"));
  EXPECT_THAT(FormatApproval(job), HasSubstr("privacy        NONE"));
  EXPECT_THAT(CheckApprovable(job, /*allow_non_private=*/false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--allow-non-private")));
  EXPECT_THAT(CheckApprovable(job, /*allow_non_private=*/true), IsOk());
  EXPECT_THAT(CheckApprovable(PendingJob(CanonicalSpec(kJob)), false), IsOk());
}

TEST(JobApproveTest, OnlyAPendingJobCanBeDecided) {
  EXPECT_THAT(CheckApprovable(RunningJob(), true),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("job `job-0a1b2c3d4e5f` is running")));
}

TEST(JobApproveTest, ConfirmationNeedsATerminalOrYes) {
  std::istringstream nothing;
  std::ostringstream out;
  EXPECT_THAT(Confirm(nothing, out, /*interactive=*/false, /*assume_yes=*/false, "approve job j"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("not a terminal"), HasSubstr("--yes"))));
  EXPECT_TRUE(out.str().empty());
  EXPECT_THAT(Confirm(nothing, out, false, /*assume_yes=*/true, "approve job j"), IsOk());
  EXPECT_TRUE(out.str().empty());
}

TEST(JobApproveTest, OnlyYesConfirms) {
  for (const char* answer : {"yes\n", "YES\n", " y \n"}) {
    std::istringstream in(answer);
    std::ostringstream out;
    EXPECT_THAT(Confirm(in, out, true, false, "approve job j"), IsOk()) << answer;
    EXPECT_THAT(out.str(), HasSubstr("Approve job j? Type yes"));
  }
  for (const char* answer : {"no\n", "\n", "", "yes please\n"}) {
    std::istringstream in(answer);
    std::ostringstream out;
    EXPECT_THAT(Confirm(in, out, true, false, "approve job j"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not confirmed")))
        << answer;
  }
}

// ----------------------------------------------------------------- watch

TEST(JobWatchTest, ExitsZeroOnlyForACompletedJob) {
  tessera::v1::JobSummary summary;
  summary.set_job_id("job-1");
  summary.set_state("completed");
  EXPECT_EQ(ExitCodeFor(WatchOutcome(summary)), kExitOk);
  for (const char* state : {"stopped", "failed", "rejected"}) {
    summary.set_state(state);
    summary.set_state_reason("because");
    const absl::Status status = WatchOutcome(summary);
    EXPECT_EQ(ExitCodeFor(status), kExitFailure) << state;
    EXPECT_THAT(status.message(), AllOf(HasSubstr(state), HasSubstr("because")));
  }
  EXPECT_TRUE(IsFinalJobState("rejected"));
  EXPECT_FALSE(IsFinalJobState("pending approval"));
  EXPECT_FALSE(IsFinalJobState("running"));
}

TEST(JobWatchTest, FractionCountsRoundsAndStages) {
  GetJobResponse job = RunningJob();
  // 2 rounds done; round 3 in stage 4 of 6 (three stages done) with 2 of 4
  // trusts reported: (2 + (3 + 0.5) / 6) / 20.
  EXPECT_DOUBLE_EQ(JobFraction(job), (2 + 3.5 / 6) / 20);
  job.set_in_progress(false);
  EXPECT_DOUBLE_EQ(JobFraction(job), 0.1);
  job.mutable_summary()->set_state("completed");
  EXPECT_DOUBLE_EQ(JobFraction(job), 1.0);
  job.mutable_summary()->set_state("running");
  job.mutable_summary()->set_rounds_total(0);
  EXPECT_DOUBLE_EQ(JobFraction(job), 0.0);
}

TEST(JobWatchTest, ProgressBarFillsInProportion) {
  EXPECT_EQ(ProgressBar(0.5, 10), "[#####.....]");
  EXPECT_EQ(ProgressBar(0.0, 4), "[....]");
  EXPECT_EQ(ProgressBar(1.0, 4), "[####]");
  EXPECT_EQ(ProgressBar(0.99, 4), "[###.]");
  EXPECT_EQ(ProgressBar(-1.0, 3), "[...]");
  EXPECT_EQ(ProgressBar(7.0, 3), "[###]");
  EXPECT_EQ(ProgressBar(std::nan(""), 3), "[...]");
}

TEST(JobWatchTest, LiveLineShowsRoundStageSitesTimeAndBar) {
  const std::string line = LiveLine(RunningJob(), kNow, 200);
  // Fraction 0.129..: 2 of 20 bar cells, 12 %.
  EXPECT_EQ(line,
            "round 3/20 | masked input | 2/4 trusts reported (need 3) | 12s in stage "
            "[##..................]  12%");
  EXPECT_EQ(LiveLine(RunningJob(), kNow, 20).size(), 20u);

  GetJobResponse waiting = PendingJob(CanonicalSpec(kJob));
  waiting.mutable_summary()->set_state("approved");
  waiting.mutable_summary()->set_waiting_reason("2 of 3 trusts connected");
  EXPECT_THAT(LiveLine(waiting, kNow, 200),
              HasSubstr("approved | waiting for 2 of 3 trusts connected [....."));
}

std::vector<std::string> Texts(const std::vector<JobWatch::Event>& events) {
  std::vector<std::string> texts;
  for (const auto& e : events) texts.push_back(e.text);
  return texts;
}

TEST(JobWatchTest, ReportsEachChangeOnce) {
  JobWatch watch;
  GetJobResponse job = RunningJob();

  // First poll: the state, the latest recorded round and the stage in progress.
  auto events = watch.Update(job, kNow);
  ASSERT_EQ(events.size(), 3u) << ::testing::PrintToString(Texts(events));
  EXPECT_EQ(events[0].text,
            "14:13:20Z job-0a1b2c3d4e5f (diabetes-readmission): running, 2/20 rounds completed");
  EXPECT_EQ(events[0].json["event"], "state");
  EXPECT_EQ(events[0].json["time"], "2026-09-21T14:13:20+00:00");
  EXPECT_EQ(events[1].text,
            "14:13:20Z round 2/20 attempt 2 completed with 3 trusts: loss 0.6123, accuracy "
            "0.750, auc 0.800");
  EXPECT_EQ(events[1].json["event"], "round");
  EXPECT_DOUBLE_EQ(events[1].json["metrics"]["auc"].get<double>(), 0.8);
  EXPECT_EQ(events[2].json["event"], "stage");
  EXPECT_EQ(events[2].json["stage"], "masked input");

  // Nothing changed but the count of reports: no line.
  job.mutable_progress()->set_sites_reported(3);
  EXPECT_TRUE(watch.Update(job, kNow).empty());

  // The next stage.
  job.mutable_progress()->set_stage(tessera::v1::STAGE_CONSISTENCY_CHECK);
  job.mutable_progress()->set_stage_name("consistency check");
  events = watch.Update(job, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].text, HasSubstr("round 3/20 attempt 1: consistency check"));

  // Round 3 is recorded and round 4 starts: the round first, then the stage.
  *job.add_rounds() = Round(3, 1, "completed", R"({"loss":0.5})");
  job.mutable_summary()->set_rounds_completed(3);
  job.mutable_progress()->set_round(4);
  job.mutable_progress()->set_stage(tessera::v1::STAGE_TRAIN);
  job.mutable_progress()->set_stage_name("train");
  events = watch.Update(job, kNow);
  ASSERT_EQ(events.size(), 2u) << ::testing::PrintToString(Texts(events));
  EXPECT_THAT(events[0].text,
              HasSubstr("round 3/20 attempt 1 completed with 3 trusts: loss 0.5000"));
  EXPECT_EQ(events[0].json["round"], 3);
  EXPECT_THAT(events[1].text, HasSubstr("round 4/20 attempt 1: train"));

  // The job waits for trusts between rounds, then is stopped.
  job.set_in_progress(false);
  job.mutable_summary()->set_waiting_reason("2 of 3 trusts connected");
  events = watch.Update(job, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].text, HasSubstr("waiting for 2 of 3 trusts connected"));
  EXPECT_EQ(events[0].json["event"], "waiting");

  job.mutable_summary()->set_state("stopped");
  job.mutable_summary()->set_state_reason("stopped by alice");
  job.mutable_summary()->set_waiting_reason("");
  events = watch.Update(job, kNow);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].text,
              HasSubstr("state: stopped, 3/20 rounds completed (stopped by alice)"));
  EXPECT_EQ(events[0].json["state_reason"], "stopped by alice");
}

}  // namespace
}  // namespace tessera::cli
