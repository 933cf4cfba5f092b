// The `tessera job ...` and `tessera model export` commands against a real
// coordinator and three agents on 127.0.0.1: an ML lead submits, governance
// is shown the job and approves it (or rejects another), the ML lead watches
// the job to the end through a pipe and exports the model, which loads back
// with libtorch. Exit codes are those documented in common/cli.h and in
// `tessera job watch --help`.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/model.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_jobs.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "transport/object_transfer.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kSites = {"gosh", "rfh", "uclh"};

// Fits the harness's default cohort (columns age, outcome): one numeric
// feature, so the built-in MLP is 1-4-1 with 1*4 + 4 + 4*1 + 1 = 13 parameters.
const std::string kJob = DefaultCohortJob("cli-e2e", kMlpModel, kNoPrivacy);

class JobCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::map<std::string, LocalFederation::AgentSetup> setups;
    for (const std::string& site : kSites) {
      setups[site] = {"", "[policy]\nallow_non_private = true\n", ""};
    }
    ASSERT_OK_AND_ASSIGN(federation_, StartFederationWithAgents(kSites, setups));
    job_file_ = federation_->dir() + "/job.toml";
    std::ofstream(job_file_) << kJob;
  }

  RunResult Cli(const std::vector<std::string>& args, const std::string& role,
                absl::Duration timeout = absl::Seconds(30)) {
    return RunCli(*federation_, args, role, timeout);
  }

  std::unique_ptr<LocalFederation> federation_;
  std::string job_file_;
};

TEST_F(JobCliTest, SubmitApproveWatchAndExport) {
  // Submit.
  RunResult submitted = Cli({"job", "submit", job_file_, "--json"}, "ml-lead", absl::Seconds(60));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const nlohmann::json receipt = JsonOf(submitted);
  const std::string id = receipt["job_id"];
  EXPECT_EQ(receipt["parameter_count"], 13);
  EXPECT_EQ(receipt["state"], "pending approval");

  RunResult listed = Cli({"job", "list", "--json"}, "auditor");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const nlohmann::json jobs = JsonOf(listed)["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["job_id"], id);
  EXPECT_EQ(jobs[0]["state"], "pending approval");
  EXPECT_EQ(jobs[0]["privacy_mode"], "none");
  EXPECT_EQ(jobs[0]["submitted_by"], "demo-ml-lead");

  // Only governance decides; a non-private job needs the flag; nobody at a
  // terminal means --yes. None of these records a decision.
  RunResult by_ml_lead = Cli({"job", "approve", id, "--allow-non-private", "--yes"}, "ml-lead");
  EXPECT_EQ(by_ml_lead.exit_code, 4) << by_ml_lead.output;
  RunResult without_flag = Cli({"job", "approve", id, "--yes"}, "governance");
  EXPECT_EQ(without_flag.exit_code, 1) << without_flag.output;
  EXPECT_THAT(without_flag.output, HasSubstr("WITHOUT differential privacy"));
  EXPECT_THAT(without_flag.output, HasSubstr("--allow-non-private"));
  RunResult unconfirmed = Cli({"job", "approve", id, "--allow-non-private"}, "governance");
  EXPECT_EQ(unconfirmed.exit_code, 1) << unconfirmed.output;
  EXPECT_THAT(unconfirmed.output, HasSubstr("not a terminal"));
  RunResult pending = Cli({"job", "show", id, "--json"}, "governance");
  ASSERT_EQ(pending.exit_code, 0) << pending.output;
  EXPECT_TRUE(JsonOf(pending)["decision"].is_null()) << pending.output;

  // Approve what is shown: the model's SHA-256 from the submission is on screen.
  RunResult approved = Cli({"job", "approve", id, "--allow-non-private", "--yes"}, "governance");
  ASSERT_EQ(approved.exit_code, 0) << approved.output;
  EXPECT_THAT(approved.output, HasSubstr(receipt["model_sha256"].get<std::string>()));
  EXPECT_THAT(approved.output, HasSubstr("age: numeric"));
  EXPECT_THAT(approved.output, HasSubstr("is approved"));

  // Watch through a pipe until the end: plain lines, exit 0 for completed.
  RunResult watched = Cli({"job", "watch", id}, "ml-lead", absl::Seconds(150));
  ASSERT_EQ(watched.exit_code, 0) << watched.output << federation_->CoordinatorOutput();
  // Rounds of this small job take well under a second, so the first poll may
  // already find round 1 (or the whole job) done: only the latest round and
  // the final state are certain to be reported.
  EXPECT_THAT(watched.output, HasSubstr("round 2/2 attempt 1 completed with 3 trusts: loss"));
  EXPECT_THAT(watched.output, HasSubstr("completed, 2/2 rounds completed"));
  EXPECT_THAT(watched.output, Not(HasSubstr("\r")));

  // Watching a finished job: the final state and the last round, as JSON lines.
  RunResult watched_json = Cli({"job", "watch", id, "--json"}, "auditor");
  ASSERT_EQ(watched_json.exit_code, 0) << watched_json.output;
  std::vector<std::string> lines = absl::StrSplit(watched_json.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << watched_json.output;
  EXPECT_EQ(nlohmann::json::parse(lines[0])["state"], "completed");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["round"], 2);
  EXPECT_TRUE(nlohmann::json::parse(lines[1])["metrics"].contains("loss"));

  RunResult shown = Cli({"job", "show", id}, "ml-lead");
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr("approved by demo-governance"));
  EXPECT_THAT(shown.output, HasSubstr("0 (stats)"));
  EXPECT_THAT(shown.output, HasSubstr("gosh included"));
  EXPECT_THAT(shown.output, HasSubstr("tessera model export " + id));

  // Export after round 1 and after the last round; both load with libtorch.
  const std::string first_path = federation_->dir() + "/round1.pt";
  const std::string last_path = federation_->dir() + "/model.pt";
  RunResult first = Cli({"model", "export", id, "--round", "1", "--out", first_path}, "ml-lead");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("after round 1"));
  RunResult last = Cli({"model", "export", id, "--out", last_path, "--json"}, "ml-lead");
  ASSERT_EQ(last.exit_code, 0) << last.output;
  const nlohmann::json exported = JsonOf(last);
  EXPECT_EQ(exported["round"], 2);
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(last_path, "export"));
  EXPECT_EQ(exported["sha256"], transport::ObjectRefOf(bytes).sha256_hex());

  ASSERT_OK_AND_ASSIGN(auto after_one, model::Model::LoadTorchScriptFile(first_path));
  ASSERT_OK_AND_ASSIGN(auto after_two, model::Model::LoadTorchScriptFile(last_path));
  EXPECT_EQ(after_two->spec().size(), 13);
  // Round 2 trained on from round 1: the parameters moved.
  EXPECT_NE(after_one->GetParameters().values(), after_two->GetParameters().values());
  // The exported network is the job's built-in MLP with those parameters.
  ASSERT_OK_AND_ASSIGN(auto builtin, model::Model::Mlp(1, {4}, 1));
  ASSERT_OK(builtin->SetParameters(after_two->GetParameters()));
  const Eigen::MatrixXf inputs = Eigen::MatrixXf::Random(5, 1);
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf got, after_two->Forward(inputs));
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf want, builtin->Forward(inputs));
  EXPECT_LT((got - want).cwiseAbs().maxCoeff(), 1e-5f);

  // A finished job cannot be stopped or decided again.
  RunResult stop = Cli({"job", "stop", id}, "ml-lead");
  EXPECT_EQ(stop.exit_code, 1) << stop.output;
  RunResult reject = Cli({"job", "reject", id, "--reason", "too late"}, "governance");
  EXPECT_EQ(reject.exit_code, 1) << reject.output;
}

TEST_F(JobCliTest, RejectedJobNeverRunsAndWatchSaysWhy) {
  RunResult submitted = Cli({"job", "submit", job_file_}, "ml-lead", absl::Seconds(60));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  EXPECT_THAT(submitted.output, HasSubstr("tessera job approve job-"));
  const std::string id = submitted.output.substr(submitted.output.find("job-"), 16);

  RunResult rejected =
      Cli({"job", "reject", id, "--reason", "use privacy mode record"}, "governance");
  ASSERT_EQ(rejected.exit_code, 0) << rejected.output;

  RunResult listed = Cli({"job", "list"}, "ml-lead");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("rejected"));
  EXPECT_THAT(listed.output, HasSubstr("use privacy mode record"));

  RunResult watched = Cli({"job", "watch", id}, "ml-lead");
  EXPECT_EQ(watched.exit_code, 1) << watched.output;
  EXPECT_THAT(watched.output, HasSubstr("rejected"));
  EXPECT_THAT(watched.output, HasSubstr("use privacy mode record"));

  RunResult export_rejected = Cli(
      {"model", "export", id, "--round", "1", "--out", federation_->dir() + "/x.pt"}, "ml-lead");
  EXPECT_NE(export_rejected.exit_code, 0) << export_rejected.output;
}

}  // namespace
}  // namespace tessera::testing
