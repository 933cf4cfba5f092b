// `tessera-coordinator backup` and `restore` against a real coordinator
// process: a backup taken while it runs, after a job was submitted, restores
// into an empty state directory, and the restarted coordinator shows the
// job and exports its model (which needs the model file from the backup's
// .state folder, not only the database). While the coordinator runs, restore
// and a second coordinator on the same state directory are refused.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
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

// The harness's default cohort has columns age and outcome: one feature, so
// the built-in MLP is 1-4-1 with 13 parameters.
const std::string kJob = DefaultCohortJob("backup-e2e", kMlpModel, kNoPrivacy);

TEST(BackupRestoreTest, ARunningCoordinatorsBackupRestoresIntoAnEmptyStateDirectory) {
  ASSERT_OK_AND_ASSIGN(auto federation, LocalFederation::Start({"rfh"}));
  const std::string dir = federation->dir();
  const std::string config = dir + "/coordinator.toml";  // written by the harness
  const std::string state = dir + "/coordinator-state";  // its storage.dir
  const std::string backup = dir + "/backups/coordinator.db";
  std::ofstream(dir + "/job.toml") << kJob;
  ASSERT_EQ(::mkdir((dir + "/backups").c_str(), 0700), 0);

  ASSERT_OK_AND_ASSIGN(RunResult submitted,
                       federation->Cli({"job", "submit", dir + "/job.toml", "--json"}, "ml-lead",
                                       absl::Seconds(60)));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const nlohmann::json receipt = JsonOf(submitted);
  const std::string id = receipt["job_id"];
  const std::string model_sha = receipt["model_sha256"];

  // Backup while the coordinator runs.
  ASSERT_OK_AND_ASSIGN(
      RunResult backed_up,
      RunCommand({Binaries::Coordinator(), "backup", "--config", config, "--out", backup, "--json"},
                 absl::Seconds(60)));
  ASSERT_EQ(backed_up.exit_code, 0) << backed_up.output;
  const nlohmann::json contents = JsonOf(backed_up)["contents"];
  EXPECT_EQ(contents["jobs"], 1);
  EXPECT_EQ(contents["model_objects"], 1);
  EXPECT_TRUE(contents["missing_models"].empty());
  EXPECT_TRUE(std::ifstream(backup + ".state/objects/" + model_sha).good());

  // The same file again is refused (exit 1), the running coordinator
  // refuses a restore, and a second coordinator on its state directory
  // stops at once (the lock is taken before anything else).
  ASSERT_OK_AND_ASSIGN(RunResult again, RunCommand({Binaries::Coordinator(), "backup", "--config",
                                                    config, "--out", backup},
                                                   absl::Seconds(60)));
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_THAT(again.output, HasSubstr("--force"));
  ASSERT_OK_AND_ASSIGN(RunResult refused,
                       RunCommand({Binaries::Coordinator(), "restore", "--config", config, "--from",
                                   backup, "--force"},
                                  absl::Seconds(60)));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("tessera-coordinator serve"));
  EXPECT_THAT(refused.output, HasSubstr("systemctl stop tessera-coordinator"));
  ASSERT_OK_AND_ASSIGN(
      RunResult second,
      RunCommand({Binaries::Coordinator(), "serve", "--config", config}, absl::Seconds(30)));
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_THAT(second.output, HasSubstr("is in use by"));

  // Stop it, lose its state directory, restore into an empty one.
  ASSERT_OK_AND_ASSIGN(RunResult stopped, federation->StopCoordinator());
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  ASSERT_EQ(std::rename(state.c_str(), (state + ".lost").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(RunResult restored, RunCommand({Binaries::Coordinator(), "restore",
                                                       "--config", config, "--from", backup},
                                                      absl::Seconds(60)));
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  EXPECT_THAT(restored.output, HasSubstr("1 model file copied into the object store"));

  // The restarted coordinator has the job and serves its model.
  ASSERT_OK(federation->StartCoordinator());
  ASSERT_OK_AND_ASSIGN(RunResult listed, federation->Cli({"job", "list", "--json"}, "auditor"));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const nlohmann::json jobs = JsonOf(listed)["jobs"];
  ASSERT_EQ(jobs.size(), 1u) << listed.output;
  EXPECT_EQ(jobs[0]["job_id"], id);
  EXPECT_EQ(jobs[0]["state"], "pending approval");
  EXPECT_EQ(jobs[0]["submitted_by"], "demo-ml-lead");
  const std::string exported = dir + "/exported.pt";
  ASSERT_OK_AND_ASSIGN(
      RunResult model,
      federation->Cli({"model", "export", id, "--out", exported, "--json"}, "ml-lead"));
  EXPECT_EQ(model.exit_code, 0) << model.output << federation->CoordinatorOutput();
  EXPECT_EQ(JsonOf(model)["round"], 0);
}

}  // namespace
}  // namespace tessera::testing
