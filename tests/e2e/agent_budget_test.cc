// `tessera-agent budget`: the trust's own view of its spend, read from the
// ledger the agent keeps, per configured dataset.
#include <sys/stat.h>

#include <fstream>

#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

TEST(AgentBudgetTest, ReportsSpendFromTheLedgerPerDataset) {
  TempDir dir;
  std::ofstream(dir.File("a.csv")) << "age,outcome\n50,1\n";
  std::ofstream(dir.File("agent.toml"))
      << "[coordinator]\naddress = \"127.0.0.1:1\"\n"
      << "[tls]\nca_file = \"ca.pem\"\ncert_file = \"site.pem\"\nkey_file = \"site.key\"\n"
      << "[state]\ndir = \"" << dir.path() << "\"\n"
      << "[policy]\nmax_epsilon = 2.0\ndelta = 1e-5\n"
      << "[datasets.diabetes]\nkind = \"csv\"\npath = \"" << dir.File("a.csv") << "\"\n"
      << "[datasets.cardiology]\nkind = \"csv\"\npath = \"" << dir.File("a.csv") << "\"\n";

  // One round of DP-SGD already recorded for `diabetes`.
  agent::Participation round;
  round.job_id = "job-a";
  round.round = 1;
  round.attempt = 1;
  round.dataset = "diabetes";
  round.recorded_at = absl::Now();
  ASSERT_OK(round.events.Add(privacy::PoissonGaussianEvent{1.1, 0.01}, 500));
  {
    ASSERT_OK_AND_ASSIGN(auto ledger, agent::PrivacyLedgerStore::Open(dir.File("ledger.db")));
    ASSERT_OK(ledger->Record(round).status());
  }
  ASSERT_OK_AND_ASSIGN(double expected, agent::EpsilonOf(round.events, 1e-5));

  ASSERT_OK_AND_ASSIGN(RunResult result,
                       RunCommand({Binaries::Agent(), "budget", "--config", dir.File("agent.toml"),
                                   "--json"},
                                  absl::Seconds(30)));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  ASSERT_EQ(json["datasets"].size(), 2u);
  // Datasets are listed in name order.
  EXPECT_EQ(json["datasets"][0]["dataset"], "cardiology");
  EXPECT_EQ(json["datasets"][0]["epsilon_spent"], 0.0);
  EXPECT_EQ(json["datasets"][0]["epsilon_remaining"], 2.0);
  EXPECT_EQ(json["datasets"][1]["dataset"], "diabetes");
  EXPECT_DOUBLE_EQ(json["datasets"][1]["epsilon_spent"].get<double>(), expected);
  EXPECT_DOUBLE_EQ(json["datasets"][1]["epsilon_remaining"].get<double>(), 2.0 - expected);
  EXPECT_EQ(json["datasets"][1]["rounds"], 1);

  ASSERT_OK_AND_ASSIGN(RunResult table, RunCommand({Binaries::Agent(), "budget", "--config",
                                                    dir.File("agent.toml")},
                                                   absl::Seconds(30)));
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("diabetes"));
  EXPECT_THAT(table.output, HasSubstr("epsilon at delta 1e-05"));
}

TEST(AgentBudgetTest, ForeignLedgerFileIsRefusedUntouched) {
  TempDir dir;
  std::ofstream(dir.File("ledger.db")) << "these are not the droids";
  std::ofstream(dir.File("agent.toml"))
      << "[coordinator]\naddress = \"127.0.0.1:1\"\n"
      << "[tls]\nca_file = \"ca.pem\"\ncert_file = \"site.pem\"\nkey_file = \"site.key\"\n"
      << "[state]\ndir = \"" << dir.path() << "\"\n";
  ASSERT_OK_AND_ASSIGN(RunResult result,
                       RunCommand({Binaries::Agent(), "budget", "--config", dir.File("agent.toml")},
                                  absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("privacy ledger"));
  EXPECT_THAT(result.output, HasSubstr("is not a SQLite database"));
  std::ifstream in(dir.File("ledger.db"));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "these are not the droids");
}

}  // namespace
}  // namespace tessera::testing
