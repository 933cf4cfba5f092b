// Every executable answers --help and --version, and refuses an unknown
// subcommand with exit code 2 and a pointer to --help.
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tessera/version.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

class CliSmokeTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string Binary() const {
    if (GetParam() == "tessera") return Binaries::Cli();
    if (GetParam() == "tessera-agent") return Binaries::Agent();
    return Binaries::Coordinator();
  }
};

TEST_P(CliSmokeTest, HelpPrintsUsageAndExitCodes) {
  ASSERT_OK_AND_ASSIGN(RunResult result, RunCommand({Binary(), "--help"}, absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("Usage: " + GetParam()));
  EXPECT_THAT(result.output, HasSubstr("Exit codes:"));
}

TEST_P(CliSmokeTest, VersionPrintsTheBuildVersion) {
  ASSERT_OK_AND_ASSIGN(RunResult result, RunCommand({Binary(), "--version"}, absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, GetParam() + " " + kVersion + "\n");
}

TEST_P(CliSmokeTest, UnknownSubcommandIsAUsageError) {
  ASSERT_OK_AND_ASSIGN(RunResult result,
                       RunCommand({Binary(), "frobnicate"}, absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("frobnicate"));
  EXPECT_THAT(result.output, HasSubstr(GetParam() + " --help"));
}

TEST_P(CliSmokeTest, NoSubcommandIsAUsageError) {
  ASSERT_OK_AND_ASSIGN(RunResult result, RunCommand({Binary()}, absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("choose a command"));
}

INSTANTIATE_TEST_SUITE_P(AllExecutables, CliSmokeTest,
                         ::testing::Values("tessera", "tessera-agent", "tessera-coordinator"));

TEST(CliSmokeTest, UnknownNestedSubcommandIsAUsageError) {
  ASSERT_OK_AND_ASSIGN(RunResult result,
                       RunCommand({Binaries::Cli(), "sites", "frob"}, absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("frob"));
}

TEST(CliSmokeTest, CoordinatorConfigErrorsNameFileAndLine) {
  TempDir dir;
  const std::string config = dir.File("coordinator.toml");
  {
    std::ofstream out(config);
    out << "[server]\nlisten = 7443\n[tls]\nca_file = \"/nonexistent/ca.pem\"\n";
  }
  ASSERT_OK_AND_ASSIGN(RunResult result, RunCommand({Binaries::Coordinator(), "serve", "--config",
                                                     config},
                                                    absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output,
              HasSubstr(config + ":2:10: `server.listen` must be a string, found an integer"));
  EXPECT_THAT(result.output, HasSubstr("missing required key `tls.cert_file`"));
}

TEST(CliSmokeTest, AgentWithMissingConfigSaysSo) {
  ASSERT_OK_AND_ASSIGN(RunResult result,
                       RunCommand({Binaries::Agent(), "run", "--config", "/nonexistent/agent.toml"},
                                  absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("config file `/nonexistent/agent.toml` does not exist"));
}

}  // namespace
}  // namespace tessera::testing
