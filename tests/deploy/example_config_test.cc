// The configurations and systemd units in deploy/ agree with each other and
// with the loaders the programs use. Every example configuration parses
// with the real loader (an unknown or missing key fails), and every path a
// unit hands its service (the key credential, the state directory) is the
// path the configuration names; a mismatch would make the packaged service
// fail at start on every server it is installed on.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/coordinator_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#ifdef TESSERA_DEPLOY_TEST_AGENT
#include "agent/agent_config.h"
#endif

namespace tessera::deploy {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kDeployDir = TESSERA_DEPLOY_DIR;

// The `Key=Value` lines of a systemd unit file, all sections together.
class UnitFile {
 public:
  static absl::StatusOr<UnitFile> Read(const std::string& path) {
    TESSERA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, "systemd unit"));
    UnitFile unit;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#' || line[0] == '[') continue;
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (parts.size() == 2) unit.entries_.emplace_back(parts[0], parts[1]);
    }
    return unit;
  }

  // Every value given to `key`, in file order.
  std::vector<std::string> Values(absl::string_view key) const {
    std::vector<std::string> values;
    for (const auto& [name, value] : entries_) {
      if (name == key) values.push_back(value);
    }
    return values;
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

std::string Dirname(const std::string& path) { return path.substr(0, path.rfind('/')); }

// The unit loads `key_file` as credential `id` and mounts the credential
// over the same path, read-only, so the configuration is valid both inside
// the unit and for commands run by hand.
void ExpectKeyHandedOverAsCredential(const UnitFile& unit, const std::string& id,
                                     const std::string& key_file) {
  EXPECT_THAT(unit.Values("LoadCredential"), ElementsAre(absl::StrCat(id, ":", key_file)));
  EXPECT_THAT(unit.Values("BindReadOnlyPaths"),
              ElementsAre(absl::StrCat("%d/", id, ":", key_file)));
  EXPECT_THAT(unit.Values("ConditionPathExists"), Contains(key_file));
}

// The sandbox settings docs/deployment.md promises (and whose exposure
// score it reports) are all there.
void ExpectHardened(const UnitFile& unit) {
  for (const char* key : {"NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
                          "ProtectKernelTunables", "RestrictNamespaces"}) {
    EXPECT_THAT(unit.Values(key), ElementsAre("yes")) << key;
  }
  EXPECT_THAT(unit.Values("ProtectSystem"), ElementsAre("strict"));
  EXPECT_THAT(unit.Values("CapabilityBoundingSet"), ElementsAre(""));
  EXPECT_THAT(unit.Values("RestrictAddressFamilies"), ElementsAre("AF_INET AF_INET6 AF_UNIX"));
  EXPECT_THAT(unit.Values("SystemCallFilter"), Contains("@system-service"));
  EXPECT_THAT(unit.Values("StateDirectoryMode"), ElementsAre("0700"));
  EXPECT_THAT(unit.Values("Restart"), ElementsAre("on-failure"));
}

TEST(CoordinatorPackageTest, ExampleConfigParsesWithTheCoordinatorLoader) {
  ASSERT_OK_AND_ASSIGN(coordinator::CoordinatorConfig config,
                       coordinator::LoadCoordinatorConfig(kDeployDir + "/config/coordinator.toml"));
  EXPECT_EQ(config.listen_address, "0.0.0.0:7443");
  EXPECT_EQ(config.tls.ca_file, "/etc/tessera/ca.pem");
  EXPECT_EQ(config.tls.cert_file, "/etc/tessera/coordinator.pem");
}

TEST(CoordinatorPackageTest, UnitGivesTheServiceWhatTheConfigNames) {
  ASSERT_OK_AND_ASSIGN(coordinator::CoordinatorConfig config,
                       coordinator::LoadCoordinatorConfig(kDeployDir + "/config/coordinator.toml"));
  ASSERT_OK_AND_ASSIGN(UnitFile unit,
                       UnitFile::Read(kDeployDir + "/systemd/tessera-coordinator.service"));
  EXPECT_THAT(unit.Values("ExecStart"), ElementsAre("/usr/bin/tessera-coordinator serve --config "
                                                    "/etc/tessera/coordinator.toml"));
  ExpectKeyHandedOverAsCredential(unit, "coordinator.key", config.tls.key_file);
  EXPECT_THAT(unit.Values("ConditionPathExists"), Contains(config.tls.cert_file));
  // ProtectSystem=strict leaves only the state directory writable: the
  // database, the objects and the revocation list the coordinator rewrites
  // must all be in it.
  ASSERT_THAT(unit.Values("StateDirectory"), ElementsAre("tessera-coordinator"));
  EXPECT_EQ(config.state_dir, "/var/lib/tessera-coordinator");
  EXPECT_EQ(Dirname(config.crl_file), config.state_dir);
  EXPECT_THAT(unit.Values("User"), ElementsAre("tessera-coordinator"));
  ExpectHardened(unit);
  // No libtorch in the coordinator: nothing needs writable code.
  EXPECT_THAT(unit.Values("MemoryDenyWriteExecute"), ElementsAre("yes"));
}

TEST(CoordinatorHelmChartTest, ConfigParsesWithTheCoordinatorLoader) {
  // The chart's default coordinator.toml; that its paths match the pod's
  // volumes is checked on the rendered chart (tests/deploy/helm_chart_test.sh).
  ASSERT_OK_AND_ASSIGN(coordinator::CoordinatorConfig config,
                       coordinator::LoadCoordinatorConfig(
                           kDeployDir + "/helm/tessera-coordinator/files/coordinator.toml"));
  EXPECT_EQ(config.listen_address, "0.0.0.0:7443");
  EXPECT_EQ(Dirname(config.crl_file), config.state_dir);
}

#ifdef TESSERA_DEPLOY_TEST_AGENT
TEST(AgentPackageTest, ExampleConfigParsesWithTheAgentLoader) {
  ASSERT_OK_AND_ASSIGN(agent::AgentConfig config,
                       agent::LoadAgentConfig(kDeployDir + "/config/agent.toml"));
  EXPECT_THAT(config.coordinator_address, HasSubstr(":7443"));
  EXPECT_EQ(config.tls.ca_file, "/etc/tessera/ca.pem");
  EXPECT_EQ(config.log.level, "info");
}

TEST(AgentPackageTest, UnitGivesTheServiceWhatTheConfigNames) {
  ASSERT_OK_AND_ASSIGN(agent::AgentConfig config,
                       agent::LoadAgentConfig(kDeployDir + "/config/agent.toml"));
  ASSERT_OK_AND_ASSIGN(UnitFile unit,
                       UnitFile::Read(kDeployDir + "/systemd/tessera-agent.service"));
  EXPECT_THAT(unit.Values("ExecStart"),
              ElementsAre("/usr/bin/tessera-agent run --config /etc/tessera/agent.toml"));
  ExpectKeyHandedOverAsCredential(unit, "site.key", config.tls.key_file);
  EXPECT_THAT(unit.Values("ConditionPathExists"), Contains(config.tls.cert_file));
  // The key lives in the state directory, which the package creates 0700
  // for the service user and purges with the key.
  ASSERT_THAT(unit.Values("StateDirectory"), ElementsAre("tessera"));
  EXPECT_EQ(Dirname(config.tls.key_file), "/var/lib/tessera");
  EXPECT_THAT(unit.Values("User"), ElementsAre("tessera-agent"));
  ExpectHardened(unit);
}

TEST(AgentPackageTest, UnitForbidsListeningSockets) {
  ASSERT_OK_AND_ASSIGN(UnitFile unit,
                       UnitFile::Read(kDeployDir + "/systemd/tessera-agent.service"));
  bool listen_denied = false;
  for (const std::string& filter : unit.Values("SystemCallFilter")) {
    if (!absl::StartsWith(filter, "~")) continue;
    for (absl::string_view name : absl::StrSplit(filter.substr(1), ' ')) {
      if (name == "listen") listen_denied = true;
    }
  }
  EXPECT_TRUE(listen_denied) << "the agent's unit must deny listen(2)";
}
#endif

}  // namespace
}  // namespace tessera::deploy
