// Real processes on 127.0.0.1 with real certificates: agents dial out over
// mutual TLS 1.3 and report; roles gate the admin service; strangers and old
// protocol versions are refused; everything stops cleanly on SIGTERM.
#include <signal.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tessera/version.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class FederationSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start({"rfh", "guys"}));
  }
  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(FederationSmokeTest, AgentsConnectReportAndStopCleanly) {
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK(federation_->StartAgent("guys"));
  ASSERT_OK(federation_->WaitForConnectedSites(2, absl::Seconds(60)));

  ASSERT_OK_AND_ASSIGN(RunResult list, federation_->Cli({"sites", "list", "--json"}));
  ASSERT_EQ(list.exit_code, 0) << list.output;
  nlohmann::json json = nlohmann::json::parse(list.output);
  std::vector<std::string> ids;
  for (const auto& site : json["sites"]) {
    ids.push_back(site["site_id"]);
    EXPECT_TRUE(site["connected"].get<bool>());
    EXPECT_EQ(site["agent_version"], kVersion);
    // Each agent offers one dataset of 150 records, reported only as ~100.
    ASSERT_EQ(site["datasets"].size(), 1u);
    EXPECT_EQ(site["datasets"][0]["name"], "cohort");
    EXPECT_EQ(site["datasets"][0]["record_count_bucket"], 100);
    // Agent and coordinator share this machine's clock.
    EXPECT_LT(std::abs(site["clock_skew_ms"].get<int64_t>()), 5000);
  }
  // The ids come from the certificates' commonName.
  EXPECT_THAT(ids, UnorderedElementsAre("rfh", "guys"));

  ASSERT_OK_AND_ASSIGN(RunResult table, federation_->Cli({"sites", "list"}));
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("rfh"));
  EXPECT_THAT(table.output, HasSubstr("connected"));

  ASSERT_OK_AND_ASSIGN(auto results, federation_->Stop(absl::Seconds(30)));
  for (const auto& [name, result] : results) {
    EXPECT_EQ(result.exit_code, 0) << name << ":\n" << result.output;
  }
  EXPECT_THAT(results.at("coordinator").output, HasSubstr("stopped"));
}

TEST_F(FederationSmokeTest, StatusReportsTheCallerAndRole) {
  ASSERT_OK_AND_ASSIGN(RunResult result, federation_->Cli({"status", "--json"}, "governance"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["caller"], "demo-governance");
  EXPECT_EQ(json["caller_role"], "governance");
}

TEST_F(FederationSmokeTest, SiteCertificateCannotUseTheAdminService) {
  ASSERT_OK_AND_ASSIGN(
      RunResult result,
      RunCommand({Binaries::Cli(), "sites", "list", "--coordinator", federation_->address(), "--ca",
                  federation_->Pki("ca.pem"), "--cert", federation_->Pki("site-rfh.pem"), "--key",
                  federation_->Pki("site-rfh.key")},
                 absl::Seconds(30)));
  EXPECT_EQ(result.exit_code, 4) << result.output;
  EXPECT_THAT(result.output, HasSubstr("`rfh` (role site) may not call Admin.ListSites"));
}

TEST_F(FederationSmokeTest, OnlyTls13IsAccepted) {
  if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl command not installed";
  const std::string connect = "127.0.0.1:" + std::to_string(federation_->port());
  ASSERT_OK_AND_ASSIGN(RunResult tls12,
                       RunCommand({"/usr/bin/openssl", "s_client", "-tls1_2", "-connect", connect},
                                  absl::Seconds(20)));
  EXPECT_NE(tls12.exit_code, 0) << tls12.output;
  EXPECT_THAT(tls12.output, ::testing::Not(HasSubstr("Protocol  : TLSv1.2\n    Cipher    : ECDHE")));
  ASSERT_OK_AND_ASSIGN(RunResult tls13,
                       RunCommand({"/usr/bin/openssl", "s_client", "-tls1_3", "-connect", connect},
                                  absl::Seconds(20)));
  EXPECT_THAT(tls13.output, HasSubstr("TLSv1.3"));
}

TEST_F(FederationSmokeTest, AgentKeyReadableByOthersIsRefused) {
  ASSERT_EQ(::chmod(federation_->Pki("site-rfh.key").c_str(), 0644), 0);
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK_AND_ASSIGN(RunResult agent, federation_->WaitForAgentExit("rfh", absl::Seconds(30)));
  EXPECT_EQ(agent.exit_code, 1) << agent.output;
  EXPECT_THAT(agent.output, HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace tessera::testing
