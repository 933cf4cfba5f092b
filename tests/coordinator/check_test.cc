// `tessera-coordinator check`, one check at a time: certificates and
// revocation lists made with the federation PKI (transport/pki.h), a real
// coordinator database, and real sockets for the listen test. The whole
// command is run in tests/e2e/preflight_test.cc.
#include "coordinator/check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "coordinator/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "transport/pki.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'767'225'600);  // 2026-01-01T00:00:00Z

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// A federation CA and the coordinator's key and certificate, as files.
class CoordinatorPki {
 public:
  explicit CoordinatorPki(const TempDir& dir) : dir_(dir) {
    ca_key_ = transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value();
    ca_ = transport::CreateCaCertificatePem(ca_key_, "Test federation", kNow - absl::Hours(24),
                                            absl::Hours(24 * 3650))
              .value();
    key_ = transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value();
    WriteFile(dir.File("ca.pem"), ca_);
    WriteFile(dir.File("coordinator.key"), key_, 0600);
    Issue(kNow + absl::Hours(24 * 365));
  }

  // Replaces coordinator.pem; returns its serial.
  uint64_t Issue(absl::Time not_after, transport::Role role = transport::Role::kCoordinator,
                 std::vector<std::string> dns = {"tessera.example.nhs.uk", "localhost"},
                 std::vector<std::string> ips = {"127.0.0.1"}) {
    transport::IssueRequest request;
    request.subject = {"coordinator", role};
    request.public_key_pem = transport::PublicKeyPemOf(key_).value();
    request.serial = next_serial_++;
    request.not_before = kNow - absl::Hours(24 * 400);
    request.not_after = not_after;
    if (role == transport::Role::kCoordinator) {
      request.dns_names = std::move(dns);
      request.ip_addresses = std::move(ips);
    }
    WriteFile(dir_.File("coordinator.pem"),
              transport::IssueCertificatePem(ca_, ca_key_, request).value());
    return request.serial;
  }

  // A revocation list from this CA revoking `serials`.
  std::string Crl(const std::vector<uint64_t>& serials) const {
    std::vector<transport::RevokedEntry> revoked;
    for (uint64_t serial : serials) {
      char hex[32];
      std::snprintf(hex, sizeof(hex), "%llX", static_cast<unsigned long long>(serial));
      revoked.push_back({hex, kNow - absl::Hours(1)});
    }
    return transport::CreateCrlPem(ca_, ca_key_, revoked, kNow, absl::Hours(24 * 30)).value();
  }

  transport::TlsFiles files() const {
    return {dir_.File("ca.pem"), dir_.File("coordinator.pem"), dir_.File("coordinator.key")};
  }

 private:
  const TempDir& dir_;
  std::string ca_key_;
  std::string ca_;
  std::string key_;
  uint64_t next_serial_ = 2;
};

TEST(CoordinatorConfigCheckTest, LoadsOrListsProblems) {
  TempDir dir;
  WriteFile(dir.File("coordinator.toml"),
            "[server]\nlisten = \"0.0.0.0:7443\"\n[tls]\nca_file = \"ca.pem\"\n"
            "cert_file = \"c.pem\"\nkey_file = \"c.key\"\n[storage]\ndir = \"/srv\"\n"
            "[log]\nformat = \"json\"\n");
  std::optional<CoordinatorConfig> config;
  EXPECT_EQ(CheckCoordinatorConfig(dir.File("coordinator.toml"), &config).verdict, Verdict::kOk);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->log.format, LogFormat::kJson);

  WriteFile(dir.File("bad.toml"), "[server]\nlisten = 7443\n");
  std::optional<CoordinatorConfig> none;
  CheckResult bad = CheckCoordinatorConfig(dir.File("bad.toml"), &none);
  EXPECT_EQ(bad.verdict, Verdict::kFail);
  EXPECT_THAT(bad.detail, HasSubstr("`server.listen` must be a string"));
  EXPECT_FALSE(none.has_value());
}

TEST(ServerCertificateCheckTest, ValidCertificateCoversTheListenHostAndNames) {
  TempDir dir;
  CoordinatorPki pki(dir);
  std::vector<CheckResult> results =
      CheckServerCertificate(pki.files(), "127.0.0.1:7443", {"TESSERA.example.nhs.uk"}, kNow);
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_EQ(results[0].verdict, Verdict::kOk) << results[0].detail;
  EXPECT_EQ(results[0].counts.at("days_left"), 365);
  EXPECT_EQ(results[1].name, "certificate names");
  EXPECT_EQ(results[1].verdict, Verdict::kOk) << results[1].detail;
  EXPECT_THAT(results[1].detail,
              HasSubstr("DNS tessera.example.nhs.uk, DNS localhost, IP 127.0.0.1"));

  // A wildcard listen address names nothing to check; the names are listed.
  std::vector<CheckResult> wildcard = CheckServerCertificate(pki.files(), "0.0.0.0:7443", {}, kNow);
  EXPECT_EQ(wildcard[1].verdict, Verdict::kOk);
  EXPECT_THAT(wildcard[1].detail, HasSubstr("agents must dial one of these"));
}

TEST(ServerCertificateCheckTest, NameAgentsDialButNotInTheCertificateFails) {
  TempDir dir;
  CoordinatorPki pki(dir);
  std::vector<CheckResult> results =
      CheckServerCertificate(pki.files(), "10.20.30.40:7443", {"tessera.other.nhs.uk"}, kNow);
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_EQ(results[1].verdict, Verdict::kFail);
  EXPECT_THAT(results[1].detail, HasSubstr("`10.20.30.40`, `tessera.other.nhs.uk`"));
  EXPECT_THAT(results[1].fix, HasSubstr("--dns NAME"));
}

TEST(ServerCertificateCheckTest, ExpiredSiteOrForeignCertificatesFail) {
  TempDir dir;
  CoordinatorPki pki(dir);
  pki.Issue(kNow + absl::Hours(24 * 10));
  EXPECT_EQ(CheckServerCertificate(pki.files(), "0.0.0.0:7443", {}, kNow)[0].verdict,
            Verdict::kWarn);

  pki.Issue(kNow - absl::Hours(24));
  std::vector<CheckResult> expired = CheckServerCertificate(pki.files(), "0.0.0.0:7443", {}, kNow);
  ASSERT_THAT(expired, SizeIs(1));
  EXPECT_EQ(expired[0].verdict, Verdict::kFail);
  EXPECT_THAT(expired[0].detail, HasSubstr("expired on 2025-12-31"));

  pki.Issue(kNow + absl::Hours(24 * 365), transport::Role::kSite);
  std::vector<CheckResult> site = CheckServerCertificate(pki.files(), "0.0.0.0:7443", {}, kNow);
  EXPECT_EQ(site[0].verdict, Verdict::kFail);
  EXPECT_THAT(site[0].detail, HasSubstr("not `coordinator`"));

  pki.Issue(kNow + absl::Hours(24 * 365));
  TempDir other_dir;
  CoordinatorPki other(other_dir);
  transport::TlsFiles wrong_key = pki.files();
  wrong_key.key_file = other.files().key_file;
  std::vector<CheckResult> mismatch = CheckServerCertificate(wrong_key, "0.0.0.0:7443", {}, kNow);
  EXPECT_EQ(mismatch[0].verdict, Verdict::kFail);
  EXPECT_THAT(mismatch[0].detail, HasSubstr("was not issued for the key"));

  transport::TlsFiles wrong_ca = pki.files();
  wrong_ca.ca_file = other.files().ca_file;
  EXPECT_EQ(CheckServerCertificate(wrong_ca, "0.0.0.0:7443", {}, kNow)[0].verdict, Verdict::kFail);
}

TEST(RevocationListCheckTest, VerifiesTheSignatureAndSparesTheCoordinator) {
  TempDir dir;
  CoordinatorPki pki(dir);
  const transport::TlsFiles files = pki.files();
  EXPECT_EQ(CheckRevocationList(files.ca_file, "", files.cert_file).verdict, Verdict::kWarn);
  CheckResult absent = CheckRevocationList(files.ca_file, dir.File("crl.pem"), files.cert_file);
  EXPECT_EQ(absent.verdict, Verdict::kWarn);
  EXPECT_THAT(absent.detail, HasSubstr("does not exist yet"));

  WriteFile(dir.File("crl.pem"), pki.Crl({90, 91}));
  CheckResult ok = CheckRevocationList(files.ca_file, dir.File("crl.pem"), files.cert_file);
  EXPECT_EQ(ok.verdict, Verdict::kOk) << ok.detail;
  EXPECT_EQ(ok.counts.at("revoked"), 2);

  TempDir other_dir;
  CoordinatorPki other(other_dir);
  WriteFile(dir.File("crl.pem"), other.Crl({90}));
  CheckResult foreign = CheckRevocationList(files.ca_file, dir.File("crl.pem"), files.cert_file);
  EXPECT_EQ(foreign.verdict, Verdict::kFail);
  EXPECT_THAT(foreign.fix, HasSubstr("refuses to start"));

  const uint64_t own = pki.Issue(kNow + absl::Hours(24 * 365));
  WriteFile(dir.File("crl.pem"), pki.Crl({own}));
  CheckResult self = CheckRevocationList(files.ca_file, dir.File("crl.pem"), files.cert_file);
  EXPECT_EQ(self.verdict, Verdict::kFail);
  EXPECT_THAT(self.detail, HasSubstr("revokes the coordinator's own certificate"));
}

TEST(DatabaseCheckTest, MissingIsFineStoreIsCheckedForeignFileFails) {
  TempDir dir;
  CheckResult missing = CheckDatabase(dir.path());
  EXPECT_EQ(missing.verdict, Verdict::kOk);
  EXPECT_THAT(missing.detail, HasSubstr("does not exist yet"));

  {
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(dir.File("coordinator.db")));
    ASSERT_OK(store->RecordSeen("rfh", "1F", kNow + absl::Hours(24), kNow));
  }
  CheckResult ok = CheckDatabase(dir.path());
  EXPECT_EQ(ok.verdict, Verdict::kOk) << ok.detail;
  EXPECT_THAT(ok.detail, HasSubstr("integrity_check ok"));

  TempDir other;
  WriteFile(other.File("coordinator.db"), std::string(4096, 'x'), 0600);
  CheckResult foreign = CheckDatabase(other.path());
  EXPECT_EQ(foreign.verdict, Verdict::kFail);
  EXPECT_THAT(foreign.detail, HasSubstr("coordinator.db"));
  // Never modified by the check.
  std::ifstream in(other.File("coordinator.db"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), std::string(4096, 'x'));
}

// A listening TCP socket on 127.0.0.1 and a free port; returns the port.
int ListenOnLoopback(int* fd) {
  *fd = ::socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(*fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::listen(*fd, 1), 0);
  socklen_t length = sizeof(address);
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

TEST(ListenCheckTest, BindTestFindsPortsInUse) {
  int fd = -1;
  const int port = ListenOnLoopback(&fd);
  CheckResult in_use = CheckListenAddress("127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(in_use.verdict, Verdict::kFail);
  EXPECT_THAT(in_use.detail, HasSubstr("is in use"));
  // This test program holds it, not a tessera-coordinator.
  EXPECT_THAT(in_use.detail, HasSubstr("(pid " + std::to_string(::getpid()) + ")"));
  EXPECT_THAT(in_use.fix, HasSubstr("ss -ltnp"));
  ::close(fd);
  EXPECT_EQ(CheckListenAddress("127.0.0.1:" + std::to_string(port)).verdict, Verdict::kOk);
}

TEST(ListenCheckTest, PortZeroForeignAddressAndNonsense) {
  CheckResult zero = CheckListenAddress("127.0.0.1:0");
  EXPECT_EQ(zero.verdict, Verdict::kOk);
  EXPECT_THAT(zero.detail, HasSubstr("a free port is chosen at start"));
  // TEST-NET-3 (RFC 5737): never an address of this machine.
  CheckResult foreign = CheckListenAddress("203.0.113.7:7443");
  EXPECT_EQ(foreign.verdict, Verdict::kFail);
  EXPECT_THAT(foreign.detail, HasSubstr("not an address of this machine"));
  EXPECT_EQ(CheckListenAddress("7443").verdict, Verdict::kFail);
  EXPECT_EQ(CheckListenAddress("0.0.0.0:99999").verdict, Verdict::kFail);
}

}  // namespace
}  // namespace tessera::coordinator
