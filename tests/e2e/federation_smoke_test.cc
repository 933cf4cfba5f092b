// Real processes on 127.0.0.1 with real certificates: agents dial out over
// mutual TLS 1.3 and report; roles gate the admin service; strangers and old
// protocol versions are refused; everything stops cleanly on SIGTERM.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/preflight.h"
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

// The pid of the running process whose command line mentions `needle`
// (the config file the harness wrote for it), or -1.
pid_t ProcessMentioning(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::stringstream cmdline;
    cmdline << in.rdbuf();
    if (cmdline.str().find(needle) != std::string::npos) return pid;
  }
  return -1;
}

// The TCP ports `pid` listens on: its sockets among the machine's listening
// ones.
std::set<int> ListeningPorts(pid_t pid) {
  const std::map<std::string, int> listening = ListeningTcpSockets();
  std::set<int> ports;
  for (const auto& fd : std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"))) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(fd.path(), error).string();
    if (auto it = listening.find(target); !error && it != listening.end()) ports.insert(it->second);
  }
  return ports;
}

// Every file and folder under `root` whose permissions let anyone but its
// owner in (group or other bits set), with its mode.
std::vector<std::string> OpenToOthers(const std::string& root) {
  std::vector<std::string> open;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    struct stat info {};
    if (::lstat(entry.path().c_str(), &info) != 0 || S_ISLNK(info.st_mode)) continue;
    if ((info.st_mode & 077) != 0) {
      open.push_back(absl::StrCat(entry.path().string(), " mode ", absl::StrFormat("%o", info.st_mode & 0777)));
    }
  }
  return open;
}

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

TEST_F(FederationSmokeTest, CoordinatorListensOnlyOnItsTlsPortAndAgentsNowhere) {
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
  const pid_t coordinator = ProcessMentioning(federation_->dir() + "/coordinator.toml");
  const pid_t agent = ProcessMentioning(federation_->dir() + "/agent-rfh.toml");
  ASSERT_GT(coordinator, 0);
  ASSERT_GT(agent, 0);
  // One port, the mutual-TLS one: no plaintext, metrics or debug port.
  EXPECT_THAT(ListeningPorts(coordinator), ::testing::ElementsAre(federation_->port()));
  // The agent only dials out (trusts allow outbound HTTPS, not inbound).
  EXPECT_THAT(ListeningPorts(agent), ::testing::IsEmpty());

  // Nobody else can share the port: the coordinator's socket is not
  // SO_REUSEPORT, so even a process of the same user asking for it gets
  // EADDRINUSE instead of a share of the connections.
  {
    const int rival = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(rival, 0);
    const int on = 1;
    ASSERT_EQ(::setsockopt(rival, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
    sockaddr_in same{};
    same.sin_family = AF_INET;
    same.sin_port = htons(static_cast<uint16_t>(federation_->port()));
    same.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int bound = ::bind(rival, reinterpret_cast<const sockaddr*>(&same), sizeof(same));
    const int error = errno;
    ::close(rival);
    EXPECT_EQ(bound, -1);
    EXPECT_EQ(error, EADDRINUSE);
  }

  // Plaintext HTTP/2 on that port gets no HTTP/2 answer: the first bytes
  // back, if any, are a TLS record (content type 0x15 alert or 0x16
  // handshake, RFC 8446 section 5.1), never an HTTP/2 SETTINGS frame.
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(federation_->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  ASSERT_EQ(::send(sock, preface.data(), preface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(preface.size()));
  timeval timeout{5, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  unsigned char reply[64] = {};
  const ssize_t got = ::recv(sock, reply, sizeof(reply), 0);
  ::close(sock);
  if (got > 0) {
    EXPECT_TRUE(reply[0] == 0x15 || reply[0] == 0x16) << "first byte " << int{reply[0]};
    EXPECT_FALSE(got >= 9 && reply[3] == 0x04) << "an HTTP/2 SETTINGS frame came back";
  }
}

TEST_F(FederationSmokeTest, KeysAndDatabasesAreReadableOnlyByTheirOwner) {
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
  // While both run (so SQLite's -wal and -shm files exist too): the
  // coordinator's state (database, objects, models), the agent's state
  // (privacy ledger) and every private key the PKI wrote.
  const std::string coordinator_state = federation_->dir() + "/coordinator-state";
  const std::string agent_state = federation_->AgentStateDir("rfh");
  bool saw_database = false;
  bool saw_ledger = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(coordinator_state)) {
    saw_database |= entry.path().extension() == ".db";
  }
  for (const auto& entry : std::filesystem::recursive_directory_iterator(agent_state)) {
    saw_ledger |= entry.path().extension() == ".db";
  }
  EXPECT_TRUE(saw_database) << "no SQLite database under " << coordinator_state;
  EXPECT_TRUE(saw_ledger) << "no SQLite ledger under " << agent_state;
  EXPECT_THAT(OpenToOthers(coordinator_state), ::testing::IsEmpty());
  EXPECT_THAT(OpenToOthers(agent_state), ::testing::IsEmpty());
  int keys = 0;
  for (const auto& entry : std::filesystem::directory_iterator(federation_->Pki(""))) {
    if (entry.path().extension() != ".key") continue;
    ++keys;
    struct stat info {};
    ASSERT_EQ(::stat(entry.path().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u) << entry.path();
  }
  EXPECT_GE(keys, 4);  // the CA, the coordinator, two sites and the people
}

}  // namespace
}  // namespace tessera::testing
