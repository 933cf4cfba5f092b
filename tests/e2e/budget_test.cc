// Governance budgets end to end, with real processes on 127.0.0.1: only a
// governance certificate sets a budget; the approval screen shows each
// trust's planned epsilon against its budget; a trust whose budget cannot
// cover a round holds a job that needs it, `job show` says why, and once
// governance raises the budget the job runs to the end without any trust's
// spend passing its budget (`tessera budget show`).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_jobs.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kSites = {"gosh", "rfh", "uclh"};

// The harness's default cohort (age, outcome; 150 records per trust, in the
// ~100 bucket); record-level DP at a target of epsilon 2 over the job.
const std::string kJob = DefaultCohortJob("budget-e2e", kLogisticModel, kRecordPrivacy);

class BudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(federation_, StartFederationWithAgents(kSites));
  }

  RunResult Cli(const std::vector<std::string>& args, const std::string& role) {
    return RunCli(*federation_, args, role, absl::Seconds(60));
  }

  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(BudgetTest, ABudgetHoldsAJobUntilGovernanceRaisesIt) {
  // Only governance sets budgets, only for enrolled trusts, with a reason.
  RunResult refused =
      Cli({"budget", "set", "gosh", "--dataset", "cohort", "--epsilon", "0.5", "--reason", "x"},
          "ml-lead");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("may not call Admin.SetBudget"));
  RunResult unknown =
      Cli({"budget", "set", "nope", "--dataset", "cohort", "--epsilon", "1", "--reason", "x"},
          "governance");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.output, HasSubstr("no site `nope` is enrolled"));
  RunResult set = Cli({"budget", "set", "gosh", "--dataset", "cohort", "--epsilon", "0.5",
                       "--reason", "board minute 12"},
                      "governance");
  ASSERT_EQ(set.exit_code, 0) << set.output;
  EXPECT_THAT(set.output, HasSubstr("budget of gosh / cohort set to epsilon 0.5 at delta 1e-05"));

  const std::string job_id = SubmitJob(*federation_, kJob);
  ASSERT_FALSE(job_id.empty());

  // The board sees each trust's planned epsilon; gosh's would pass its budget.
  nlohmann::json shown = JsonOf(Cli({"job", "show", job_id, "--json"}, "governance"));
  ASSERT_EQ(shown["planned"].size(), 3u) << shown.dump(2);
  for (const auto& planned : shown["planned"]) {
    // The job's own target: each trust's whole-job epsilon is at most 2.
    EXPECT_GT(planned["epsilon"].get<double>(), 0.5) << planned.dump();
    EXPECT_LE(planned["epsilon"].get<double>(), 2.0 + 1e-6) << planned.dump();
    EXPECT_EQ(planned["budget"].is_null(), planned["site_id"] != "gosh") << planned.dump();
  }
  RunResult approved = Cli({"job", "approve", job_id, "--yes"}, "governance");
  ASSERT_EQ(approved.exit_code, 0) << approved.output;
  EXPECT_THAT(approved.output, HasSubstr("Planned privacy spend per trust"));
  EXPECT_THAT(approved.output, HasSubstr("EXCEEDS"));

  // Statistics round, then the first training round waits for gosh.
  nlohmann::json waiting = WaitForJob(*federation_, job_id, [](const nlohmann::json& job) {
    return job["summary"]["waiting_reason"].get<std::string>().find("privacy budget") !=
           std::string::npos;
  }, absl::Seconds(60));
  EXPECT_THAT(waiting["summary"]["waiting_reason"].get<std::string>(),
              HasSubstr("passed over for their privacy budget: gosh"));
  RunResult show_text = Cli({"job", "show", job_id}, "ml-lead");
  EXPECT_THAT(show_text.output, HasSubstr("passed over for their privacy budget: gosh"));
  EXPECT_EQ(waiting["summary"]["rounds_completed"], 0);

  // Governance raises the budget; the job runs to the end.
  ASSERT_EQ(Cli({"budget", "set", "gosh", "--dataset", "cohort", "--epsilon", "5", "--reason",
                 "board minute 13"},
                "governance")
                .exit_code,
            0);
  nlohmann::json done = WaitForJob(
      *federation_, job_id, [](const nlohmann::json& job) { return job["summary"]["state"] == "completed"; },
      absl::Seconds(120));
  ASSERT_EQ(done["summary"]["state"], "completed") << done.dump(2);

  nlohmann::json budgets = JsonOf(Cli({"budget", "show", "--json"}, "auditor"));
  ASSERT_EQ(budgets["budgets"].size(), 3u) << budgets.dump(2);
  for (const auto& b : budgets["budgets"]) {
    EXPECT_GT(b["spent"].get<double>(), 0) << b.dump();
    EXPECT_LE(b["spent"].get<double>(), 2.0 + 1e-6) << b.dump();  // the job's own target
    EXPECT_TRUE(b["spend_complete"].get<bool>());
    ASSERT_EQ(b["jobs"].size(), 1u);
    EXPECT_EQ(b["jobs"][0]["job_id"], job_id);
    EXPECT_EQ(b["jobs"][0]["rounds"], 2);
    if (b["site_id"] == "gosh") {
      EXPECT_EQ(b["budget"], 5.0);
      EXPECT_NEAR(b["remaining"].get<double>(), 5.0 - b["spent"].get<double>(), 1e-9);
    } else {
      EXPECT_TRUE(b["budget"].is_null());
    }
  }
  RunResult table = Cli({"budget", "show"}, "governance");
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("gosh"));
  EXPECT_THAT(table.output, HasSubstr(job_id));
}

}  // namespace
}  // namespace tessera::testing
