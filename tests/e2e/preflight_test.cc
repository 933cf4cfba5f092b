// `tessera-agent check` and `tessera-coordinator check` as trust IT and the
// operator run them, against a real coordinator with certificates made by
// Tessera's own PKI tools; and SIGHUP changing the log level (and format) of
// running daemons, seen in what they log.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "transport/pki.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Waits until `process` has logged `text`.
bool WaitForOutput(const Subprocess& process, const std::string& text,
                   absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (process.Output().find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start({"rfh"}));
    std::string rows = "age,outcome\n";
    for (int i = 0; i < 150; ++i) absl::StrAppend(&rows, 40 + i % 40, ",", i % 2, "\n");
    WriteAll(File("cohort.csv"), rows);
    ASSERT_EQ(::mkdir(File("agent-state").c_str(), 0700), 0);
  }

  std::string File(const std::string& name) const { return federation_->dir() + "/" + name; }

  // An agent.toml for site rfh with the given certificate and key, dialling
  // `address` (the running coordinator by default).
  std::string AgentConfig(const std::string& cert, const std::string& key,
                          const std::string& extra = "", std::string address = "") {
    if (address.empty()) address = federation_->address();
    const std::string path = File("check-agent.toml");
    WriteAll(path, absl::StrCat(
                       "[coordinator]\naddress = \"", address,
                       "\"\nheartbeat_seconds = 1\nretry_max_seconds = 2\n[tls]\n", "ca_file = \"",
                       federation_->Pki("ca.pem"), "\"\ncert_file = \"", cert, "\"\nkey_file = \"",
                       key, "\"\n[state]\ndir = \"", File("agent-state"), "\"\n", extra,
                       "[datasets.cohort]\nkind = \"csv\"\npath = \"", File("cohort.csv"), "\"\n"));
    return path;
  }
  std::string DefaultAgentConfig() {
    return AgentConfig(federation_->Pki("site-rfh.pem"), federation_->Pki("site-rfh.key"));
  }

  absl::StatusOr<RunResult> AgentCheck(const std::string& config,
                                       std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {Binaries::Agent(), "check", "--config", config};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv, absl::Seconds(60));
  }

  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(PreflightTest, AgentCheckPassesAgainstTheCoordinatorThenFailsWhenItStops) {
  const std::string config = DefaultAgentConfig();
  ASSERT_OK_AND_ASSIGN(RunResult passed, AgentCheck(config));
  EXPECT_EQ(passed.exit_code, 0) << passed.output;
  for (const char* line : {"OK    config", "OK    private key", "OK    certificate",
                           "OK    dataset cohort", "OK    coordinator", "OK    clock"}) {
    EXPECT_THAT(passed.output, HasSubstr(line)) << passed.output;
  }
  EXPECT_THAT(passed.output, HasSubstr("it knows this site as `rfh`"));
  EXPECT_THAT(passed.output, HasSubstr("0 FAIL"));

  ASSERT_OK_AND_ASSIGN(RunResult json, AgentCheck(config, {"--json"}));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json report = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << json.output;
  EXPECT_EQ(report["passed"], true);
  std::map<std::string, std::string> status;
  for (const auto& check : report["checks"]) status[check["name"]] = check["status"];
  EXPECT_EQ(status["coordinator"], "ok");
  EXPECT_EQ(status["clock"], "ok");
  EXPECT_EQ(status["private key"], "ok");
  EXPECT_EQ(status["dataset cohort"], "ok");

  ASSERT_OK(federation_->StopCoordinator().status());
  ASSERT_OK_AND_ASSIGN(RunResult stopped, AgentCheck(config));
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  EXPECT_THAT(stopped.output, HasSubstr(absl::StrCat("FAIL  coordinator     no answer from ",
                                                     federation_->address())));
  EXPECT_THAT(stopped.output, HasSubstr("that the coordinator runs"));
  EXPECT_THAT(stopped.output, HasSubstr("WARN  clock           not measured"));
  EXPECT_THAT(stopped.output, HasSubstr("tessera-agent: error: 1 of 10 checks failed"));
}

TEST_F(PreflightTest, AgentCheckGoesThroughTheProxy) {
  const std::string port_file = File("proxy.port");
  ASSERT_OK_AND_ASSIGN(
      Subprocess proxy,
      Subprocess::Start({"/usr/bin/python3", TESSERA_CONNECT_PROXY, port_file}, File("proxy.log")));
  ASSERT_OK_AND_ASSIGN(std::string port_text, WaitForFile(port_file, absl::Seconds(30)));
  const std::string proxy_address =
      absl::StrCat("127.0.0.1:", absl::StripAsciiWhitespace(port_text));
  // no_proxy must not exempt loopback here, or the check would dial directly.
  ASSERT_OK_AND_ASSIGN(
      RunResult result,
      RunCommand({Binaries::Agent(), "check", "--config", DefaultAgentConfig()}, absl::Seconds(60),
                 {{"https_proxy", "http://" + proxy_address}, {"no_proxy", ""}}));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("OK    proxy"));
  EXPECT_THAT(result.output,
              HasSubstr(absl::StrCat("through the proxy ", proxy_address, " (https_proxy)")));
  EXPECT_THAT(proxy.Output(), HasSubstr("CONNECT " + federation_->address()));
}

TEST_F(PreflightTest, KeyReadableByOthersFails) {
  const std::string key = File("open.key");
  WriteAll(key, ReadAll(federation_->Pki("site-rfh.key")), 0644);
  ASSERT_OK_AND_ASSIGN(RunResult result,
                       AgentCheck(AgentConfig(federation_->Pki("site-rfh.pem"), key)));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("FAIL  private key"));
  EXPECT_THAT(result.output, HasSubstr("has mode 0644"));
  EXPECT_THAT(result.output, HasSubstr("fix: chmod 600 " + key));
}

TEST_F(PreflightTest, ExpiredCertificateFails) {
  // Re-issued for the site's own key, valid only in the past (the tools
  // refuse to make one, so the library does, with the federation's CA).
  const std::string key = ReadAll(federation_->Pki("site-rfh.key"));
  transport::IssueRequest request;
  request.subject = {"rfh", transport::Role::kSite};
  request.public_key_pem = transport::PublicKeyPemOf(key).value();
  request.serial = 4243;
  request.not_before = absl::Now() - absl::Hours(24 * 100);
  request.not_after = absl::Now() - absl::Hours(24 * 3);
  const std::string expired = File("expired.pem");
  WriteAll(expired, transport::IssueCertificatePem(ReadAll(federation_->Pki("ca.pem")),
                                                   ReadAll(federation_->Pki("ca.key")), request)
                        .value());
  ASSERT_OK_AND_ASSIGN(RunResult result,
                       AgentCheck(AgentConfig(expired, federation_->Pki("site-rfh.key"))));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("FAIL  certificate"));
  EXPECT_THAT(result.output, HasSubstr("expired on"));
  EXPECT_THAT(result.output, HasSubstr("tessera-agent enroll --key NEW_KEY_PATH"));
}

TEST_F(PreflightTest, CoordinatorCheckKnowsItsOwnRunningPort) {
  // The harness's configuration, with the port the coordinator actually bound.
  const std::string config = File("check-coordinator.toml");
  WriteAll(config, absl::StrReplaceAll(ReadAll(federation_->dir() + "/coordinator.toml"),
                                       {{"127.0.0.1:0", federation_->address()}}));
  ASSERT_OK_AND_ASSIGN(RunResult running, RunCommand({Binaries::Coordinator(), "check", "--config",
                                                      config, "--name", "localhost"},
                                                     absl::Seconds(60)));
  EXPECT_EQ(running.exit_code, 0) << running.output;
  EXPECT_THAT(running.output, HasSubstr("OK    certificate names"));
  EXPECT_THAT(running.output, HasSubstr("integrity_check ok"));
  EXPECT_THAT(running.output, HasSubstr("WARN  listen"));
  EXPECT_THAT(running.output, HasSubstr("in use by a running tessera-coordinator"));

  ASSERT_OK(federation_->StopCoordinator().status());
  ASSERT_OK_AND_ASSIGN(RunResult stopped, RunCommand({Binaries::Coordinator(), "check", "--config",
                                                      config, "--name", "tessera.elsewhere.nhs.uk"},
                                                     absl::Seconds(60)));
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  EXPECT_THAT(stopped.output, HasSubstr("OK    listen"));
  EXPECT_THAT(stopped.output, HasSubstr("FAIL  certificate names  not in the certificate: "
                                        "`tessera.elsewhere.nhs.uk`"));
}

// Rewrites `path` with `from` replaced by `to`.
void Edit(const std::string& path, const std::string& from, const std::string& to) {
  const std::string text = ReadAll(path);
  ASSERT_THAT(text, HasSubstr(from));
  WriteAll(path, absl::StrReplaceAll(text, {{from, to}}));
}

TEST_F(PreflightTest, SighupChangesTheLogLevelAndFormatOfRunningDaemons) {
  // Our own coordinator and agent, so that the test can signal them.
  ASSERT_OK(federation_->StopCoordinator().status());
  const std::string coordinator_config = File("sighup-coordinator.toml");
  WriteAll(coordinator_config,
           absl::StrReplaceAll(
               ReadAll(federation_->dir() + "/coordinator.toml"),
               {{federation_->address(), "127.0.0.1:0"}, {"coordinator-state", "sighup-state"}}) +
               "[log]\nlevel = \"info\"\n");
  ASSERT_OK_AND_ASSIGN(Subprocess coordinator,
                       Subprocess::Start({Binaries::Coordinator(), "serve", "--config",
                                          coordinator_config, "--port-file", File("sighup.port")},
                                         File("sighup-coordinator.log")));
  ASSERT_OK_AND_ASSIGN(std::string port, WaitForFile(File("sighup.port"), absl::Seconds(30)));
  const std::string agent_config = AgentConfig(
      federation_->Pki("site-rfh.pem"), federation_->Pki("site-rfh.key"),
      "[log]\nlevel = \"info\"\n", absl::StrCat("127.0.0.1:", absl::StripAsciiWhitespace(port)));
  ASSERT_OK_AND_ASSIGN(Subprocess agent,
                       Subprocess::Start({Binaries::Agent(), "run", "--config", agent_config},
                                         File("sighup-agent.log")));
  ASSERT_TRUE(WaitForOutput(agent, "connected coordinator=")) << agent.Output();
  // Heartbeats every second; at info level neither side logs them.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_THAT(coordinator.Output(), Not(HasSubstr("debug [coordinator] heartbeat")));
  EXPECT_THAT(agent.Output(), Not(HasSubstr("debug [agent] heartbeat")));

  Edit(coordinator_config, "level = \"info\"", "level = \"debug\"");
  coordinator.Signal(SIGHUP);
  EXPECT_TRUE(WaitForOutput(coordinator, "level=debug previous_level=info"))
      << coordinator.Output();
  EXPECT_TRUE(WaitForOutput(coordinator, "debug [coordinator] heartbeat site=rfh"))
      << coordinator.Output();

  Edit(agent_config, "level = \"info\"", "level = \"debug\"");
  agent.Signal(SIGHUP);
  EXPECT_TRUE(WaitForOutput(agent, "debug [agent] heartbeat answered")) << agent.Output();

  // A broken file changes nothing and says so; the daemon keeps running.
  Edit(coordinator_config, "level = \"debug\"", "level = \"loud\"");
  coordinator.Signal(SIGHUP);
  EXPECT_TRUE(WaitForOutput(coordinator, "reload on SIGHUP failed")) << coordinator.Output();
  EXPECT_TRUE(coordinator.running());

  // JSON: one object per line, the heartbeat's fields as fields.
  Edit(coordinator_config, "level = \"loud\"", "level = \"debug\"\nformat = \"json\"");
  coordinator.Signal(SIGHUP);
  ASSERT_TRUE(WaitForOutput(coordinator, "\"component\":\"coordinator\"")) << coordinator.Output();
  bool found = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!found && absl::Now() < deadline) {
    for (absl::string_view line : absl::StrSplit(coordinator.Output(), '\n')) {
      if (!absl::StartsWith(line, "{")) continue;
      const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
      ASSERT_FALSE(event.is_discarded()) << line;
      if (event["message"] == "heartbeat") {
        EXPECT_EQ(event["level"], "debug");
        EXPECT_EQ(event["fields"]["site"], "rfh");
        found = true;
      }
    }
    if (!found) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(found) << coordinator.Output();

  // Reloads leave shutdown as it was: SIGTERM still stops the coordinator
  // cleanly. (The agent is killed with the test's processes.)
  coordinator.Signal(SIGTERM);
  ASSERT_OK_AND_ASSIGN(RunResult coordinator_exit, coordinator.Wait(absl::Seconds(30)));
  EXPECT_EQ(coordinator_exit.exit_code, 0) << coordinator_exit.output;
}

}  // namespace
}  // namespace tessera::testing
