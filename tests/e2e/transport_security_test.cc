// Who may connect, and what happens to those who may not: real coordinator
// and agent processes on 127.0.0.1 with certificates made by Tessera's own
// PKI, plus direct gRPC calls from this process where a test needs
// credentials no Tessera tool would present.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "health.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tessera.grpc.pb.h"
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
  ::chmod(path.c_str(), mode);
}

// A channel from this process to the coordinator with the given PEM files;
// an empty cert means no client certificate at all.
std::shared_ptr<grpc::Channel> Dial(const LocalFederation& federation, const std::string& cert,
                                    const std::string& key) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadAll(federation.Pki("ca.pem"));
  if (!cert.empty()) {
    options.pem_cert_chain = ReadAll(cert);
    options.pem_private_key = ReadAll(key);
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(federation.address(), grpc::SslCredentials(options), args);
}

grpc::Status Heartbeat(const std::shared_ptr<grpc::Channel>& channel,
                       const tessera::v1::HeartbeatRequest& request) {
  auto stub = tessera::v1::Federation::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  tessera::v1::HeartbeatResponse response;
  return stub->Heartbeat(&context, request, &response);
}

// Waits until the coordinator's log contains `text`.
bool CoordinatorLogged(const LocalFederation& federation, const std::string& text) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (federation.CoordinatorOutput().find(text) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

class TransportSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start({"rfh", "guys"}));
  }

  // A person certificate signed by the federation's own CA but valid only
  // in the past (the tools refuse to make one, so the library does).
  void MakeExpiredOperator(const std::string& cert_path, const std::string& key_path) {
    std::string key = transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value();
    transport::IssueRequest request;
    request.subject = {"old-operator", transport::Role::kOperator};
    request.public_key_pem = transport::PublicKeyPemOf(key).value();
    request.serial = 4242;
    request.not_before = absl::Now() - absl::Hours(24 * 100);
    request.not_after = absl::Now() - absl::Hours(24 * 10);
    WriteAll(cert_path, transport::IssueCertificatePem(ReadAll(federation_->Pki("ca.pem")),
                                                       ReadAll(federation_->Pki("ca.key")),
                                                       request)
                            .value());
    WriteAll(key_path, key, 0600);
  }

  // Re-issues the certificate of `site` for its existing key with the given
  // validity, as an operator would with `tessera pki sign`.
  void ReplaceSiteCertificate(const std::string& site, uint64_t serial, absl::Time not_before,
                              absl::Time not_after) {
    std::string key = ReadAll(federation_->Pki("site-" + site + ".key"));
    transport::IssueRequest request;
    request.subject = {site, transport::Role::kSite};
    request.public_key_pem = transport::PublicKeyPemOf(key).value();
    request.serial = serial;
    request.not_before = not_before;
    request.not_after = not_after;
    WriteAll(federation_->Pki("site-" + site + ".pem"),
             transport::IssueCertificatePem(ReadAll(federation_->Pki("ca.pem")),
                                            ReadAll(federation_->Pki("ca.key")), request)
                 .value());
  }

  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(TransportSecurityTest, CertificateFromAnotherCaIsRefusedOnBothSides) {
  TempDir other;
  ASSERT_OK_AND_ASSIGN(RunResult pki, RunCommand({"/bin/bash", Binaries::LocalPki(),
                                                  Binaries::BuildDir(), other.File("pki"), "x"},
                                                 absl::Seconds(60)));
  ASSERT_EQ(pki.exit_code, 0) << pki.output;
  // The tool checks its own certificate against the CA it trusts first.
  ASSERT_OK_AND_ASSIGN(
      RunResult cli,
      RunCommand({Binaries::Cli(), "status", "--timeout", "5", "--coordinator",
                  federation_->address(), "--ca", federation_->Pki("ca.pem"), "--cert",
                  other.File("pki/person-operator.pem"), "--key",
                  other.File("pki/person-operator.key")},
                 absl::Seconds(30)));
  EXPECT_EQ(cli.exit_code, 4) << cli.output;
  EXPECT_THAT(cli.output, HasSubstr("was not issued by this federation's CA"));

  // A client that skips that check is refused in the handshake.
  grpc::Status status = Heartbeat(
      Dial(*federation_, other.File("pki/site-x.pem"), other.File("pki/site-x.key")), {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(CoordinatorLogged(*federation_, "certificate verify failed"))
      << federation_->CoordinatorOutput();
}

TEST_F(TransportSecurityTest, CallWithoutClientCertificateIsRefused) {
  grpc::Status status = Heartbeat(Dial(*federation_, "", ""), {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(CoordinatorLogged(*federation_, "peer did not return a certificate"))
      << federation_->CoordinatorOutput();
}

TEST_F(TransportSecurityTest, ExpiredCertificateIsRefusedOnBothSides) {
  const std::string cert = federation_->dir() + "/expired.pem";
  const std::string key = federation_->dir() + "/expired.key";
  MakeExpiredOperator(cert, key);
  ASSERT_OK_AND_ASSIGN(RunResult cli,
                       RunCommand({Binaries::Cli(), "status", "--coordinator",
                                   federation_->address(), "--ca", federation_->Pki("ca.pem"),
                                   "--cert", cert, "--key", key},
                                  absl::Seconds(30)));
  EXPECT_EQ(cli.exit_code, 4) << cli.output;
  EXPECT_THAT(cli.output, HasSubstr("certificate of `old-operator` (serial 1092) expired on"));

  tessera::v1::CoordinatorStatusResponse response;
  auto stub = tessera::v1::Admin::NewStub(Dial(*federation_, cert, key));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status status = stub->Status(&context, {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_TRUE(CoordinatorLogged(*federation_, "certificate verify failed"));
}

TEST_F(TransportSecurityTest, ExpiredSiteCertificateStopsTheAgentWithTheDate) {
  ReplaceSiteCertificate("rfh", 77, absl::Now() - absl::Hours(48), absl::Now() - absl::Hours(24));
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK_AND_ASSIGN(RunResult agent, federation_->WaitForAgentExit("rfh", absl::Seconds(30)));
  EXPECT_EQ(agent.exit_code, 4) << agent.output;
  EXPECT_THAT(agent.output, HasSubstr("certificate of `rfh` (serial 4D) expired on"));
}

TEST_F(TransportSecurityTest, AgentWarnsThirtyDaysBeforeExpiry) {
  ReplaceSiteCertificate("rfh", 78, absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24 * 12));
  ReplaceSiteCertificate("guys", 79, absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24 * 45));
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK(federation_->StartAgent("guys"));
  ASSERT_OK(federation_->WaitForConnectedSites(2, absl::Seconds(60)));
  EXPECT_THAT(federation_->AgentOutput("rfh"), HasSubstr("certificate expires soon"));
  EXPECT_THAT(federation_->AgentOutput("rfh"), HasSubstr("days_left=11"));
  EXPECT_THAT(federation_->AgentOutput("guys"), Not(HasSubstr("expires soon")));
}

TEST_F(TransportSecurityTest, SiteRevokedWhileConnectedIsCutOff) {
  ASSERT_OK(federation_->StartAgent("rfh"));
  ASSERT_OK(federation_->StartAgent("guys"));
  ASSERT_OK(federation_->WaitForConnectedSites(2, absl::Seconds(60)));

  ASSERT_OK_AND_ASSIGN(RunResult revoke,
                       federation_->Cli({"pki", "revoke", "--ca-dir", federation_->Pki(""), "--id",
                                         "rfh"}));
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_THAT(revoke.output, HasSubstr("the coordinator now refuses 1 revoked certificate"));

  // The agent's next heartbeat is refused; it stops and says why.
  ASSERT_OK_AND_ASSIGN(RunResult agent, federation_->WaitForAgentExit("rfh", absl::Seconds(30)));
  EXPECT_EQ(agent.exit_code, 4) << agent.output;
  EXPECT_THAT(agent.output, HasSubstr("the certificate of `rfh`"));
  EXPECT_THAT(agent.output, HasSubstr("was revoked on"));
  EXPECT_THAT(federation_->CoordinatorOutput(),
              HasSubstr("caller=rfh role=site"));
  EXPECT_THAT(federation_->CoordinatorOutput(), HasSubstr("reason=revoked"));
  // The revocation survives a restart: it was persisted to tls.crl_file.
  EXPECT_THAT(ReadAll(federation_->CrlFile()), HasSubstr("BEGIN X509 CRL"));
  ASSERT_OK(federation_->StopCoordinator().status());
  ASSERT_OK(federation_->StartCoordinator());
  grpc::Status again = Heartbeat(
      Dial(*federation_, federation_->Pki("site-rfh.pem"), federation_->Pki("site-rfh.key")), {});
  EXPECT_EQ(again.error_code(), grpc::StatusCode::UNAUTHENTICATED) << again.error_message();
  // The other site carries on.
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
}

TEST_F(TransportSecurityTest, RevocationEndsAnOpenLongPoll) {
  auto stub = tessera::v1::Federation::NewStub(
      Dial(*federation_, federation_->Pki("site-guys.pem"), federation_->Pki("site-guys.key")));
  grpc::Status poll_status;
  std::thread poller([&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    tessera::v1::GetWorkResponse response;
    poll_status = stub->GetWork(&context, {}, &response);
  });
  // Let the call reach the coordinator and wait there.
  absl::SleepFor(absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(RunResult revoke,
                       federation_->Cli({"pki", "revoke", "--ca-dir", federation_->Pki(""), "--id",
                                         "guys"}));
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  poller.join();
  // Ended by the revocation (an empty OK would mean it ran to its deadline).
  EXPECT_EQ(poll_status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << poll_status.error_message();
  EXPECT_THAT(poll_status.error_message(), HasSubstr("was revoked on"));
}

TEST_F(TransportSecurityTest, RevocationFileChangeTakesEffectWithoutRestart) {
  ASSERT_OK_AND_ASSIGN(RunResult before, federation_->Cli({"status"}, "ml-lead"));
  ASSERT_EQ(before.exit_code, 0) << before.output;
  // Revoke offline (no coordinator given), then hand the coordinator the file.
  ASSERT_OK_AND_ASSIGN(RunResult revoke,
                       RunCommand({Binaries::Cli(), "pki", "revoke", "--ca-dir",
                                   federation_->Pki(""), "--id", "demo-ml-lead"},
                                  absl::Seconds(30)));
  ASSERT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_THAT(revoke.output, HasSubstr("applies it when its `tls.crl_file` changes"));
  WriteAll(federation_->CrlFile() + ".new", ReadAll(federation_->Pki("crl.pem")));
  ASSERT_EQ(::rename((federation_->CrlFile() + ".new").c_str(), federation_->CrlFile().c_str()), 0);

  RunResult after;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    absl::SleepFor(absl::Milliseconds(500));
    ASSERT_OK_AND_ASSIGN(after, federation_->Cli({"status"}, "ml-lead"));
  } while (after.exit_code == 0 && absl::Now() < deadline);
  EXPECT_EQ(after.exit_code, 4) << after.output;
  EXPECT_THAT(after.output, HasSubstr("`demo-ml-lead`"));
  EXPECT_THAT(after.output, HasSubstr("was revoked on"));
  // Others are unaffected.
  ASSERT_OK_AND_ASSIGN(RunResult governance, federation_->Cli({"status"}, "governance"));
  EXPECT_EQ(governance.exit_code, 0) << governance.output;
}

TEST_F(TransportSecurityTest, OnlyOperatorsMayPublishRevocations) {
  ASSERT_OK_AND_ASSIGN(RunResult revoke,
                       federation_->Cli({"pki", "revoke", "--ca-dir", federation_->Pki(""), "--id",
                                         "guys"},
                                        "ml-lead"));
  EXPECT_EQ(revoke.exit_code, 4) << revoke.output;
  EXPECT_THAT(revoke.output,
              HasSubstr("`demo-ml-lead` (role ml-lead) may not call Admin.PublishRevocationList"));
  EXPECT_THAT(revoke.output, HasSubstr("the coordinator did not take it"));
}

TEST_F(TransportSecurityTest, AgentStartedFirstConnectsAndReconnectsAfterRestart) {
  ASSERT_OK(federation_->StopCoordinator().status());
  ASSERT_OK(federation_->StartAgent("rfh"));
  absl::SleepFor(absl::Seconds(2));
  EXPECT_THAT(federation_->AgentOutput("rfh"), HasSubstr("coordinator unreachable"));
  ASSERT_OK(federation_->StartCoordinator());
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));

  // The restarted coordinator starts with no sites; the agent comes back.
  ASSERT_OK(federation_->StopCoordinator().status());
  absl::SleepFor(absl::Seconds(1));
  ASSERT_OK(federation_->StartCoordinator());
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
  ASSERT_OK_AND_ASSIGN(auto results, federation_->Stop(absl::Seconds(30)));
  EXPECT_EQ(results.at("agent-rfh").exit_code, 0) << results.at("agent-rfh").output;
}

TEST_F(TransportSecurityTest, AgentConnectsThroughAnHttpsProxy) {
  const std::string port_file = federation_->dir() + "/proxy.port";
  ASSERT_OK_AND_ASSIGN(Subprocess proxy,
                       Subprocess::Start({"/usr/bin/python3", TESSERA_CONNECT_PROXY, port_file},
                                         federation_->dir() + "/proxy.log"));
  ASSERT_OK_AND_ASSIGN(std::string port, WaitForFile(port_file, absl::Seconds(30)));
  // The standard variable trust IT sets for outbound HTTPS; no_proxy must not
  // exempt loopback here, or the agent would dial directly.
  ASSERT_OK(federation_->StartAgent(
      "rfh", {{"https_proxy", "http://127.0.0.1:" + std::string(absl::StripAsciiWhitespace(port))},
              {"no_proxy", ""}}));
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
  EXPECT_THAT(proxy.Output(), HasSubstr("CONNECT " + federation_->address()));
}

TEST_F(TransportSecurityTest, MalformedAndOversizedMessagesAreRefusedAndServiceGoesOn) {
  auto channel =
      Dial(*federation_, federation_->Pki("site-rfh.pem"), federation_->Pki("site-rfh.key"));
  tessera::v1::HeartbeatRequest oversized;
  oversized.mutable_info()->set_hostname(std::string(20 * 1024 * 1024, 'x'));
  EXPECT_EQ(Heartbeat(channel, oversized).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  tessera::v1::HeartbeatRequest long_name;
  long_name.mutable_info()->set_hostname(std::string(300, 'x'));
  grpc::Status status = Heartbeat(channel, long_name);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("hostname is longer than 256"));

  tessera::v1::HeartbeatRequest many;
  for (int i = 0; i < 65; ++i) many.mutable_info()->add_datasets()->set_name("d");
  EXPECT_EQ(Heartbeat(channel, many).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  tessera::v1::HeartbeatRequest fine;
  fine.set_sequence(1);
  EXPECT_TRUE(Heartbeat(channel, fine).ok());
}

TEST_F(TransportSecurityTest, EnrolledSiteIsListedBeforeItConnectsAndAfterRestart) {
  const std::string key = federation_->dir() + "/leeds.key";
  const std::string csr = federation_->dir() + "/leeds.csr";
  ASSERT_OK_AND_ASSIGN(RunResult enroll, RunCommand({Binaries::Agent(), "enroll", "--key", key,
                                                     "--site", "leeds", "--csr", csr},
                                                    absl::Seconds(30)));
  ASSERT_EQ(enroll.exit_code, 0) << enroll.output;
  // Signed by the operator with a coordinator connection: the site is
  // registered at once.
  ASSERT_OK_AND_ASSIGN(RunResult sign,
                       federation_->Cli({"pki", "sign", "--ca-dir", federation_->Pki(""), "--csr",
                                         csr, "--site", "leeds", "--out",
                                         federation_->dir() + "/leeds.pem"}));
  ASSERT_EQ(sign.exit_code, 0) << sign.output;
  EXPECT_THAT(sign.output, HasSubstr("the coordinator now lists site `leeds` as enrolled"));

  auto site_state = [&](const std::string& id) -> nlohmann::json {
    auto list = federation_->Cli({"sites", "list", "--json"});
    if (!list.ok() || list->exit_code != 0) return nullptr;
    const nlohmann::json parsed = nlohmann::json::parse(list->output);
    for (const auto& site : parsed["sites"]) {
      if (site["site_id"] == id) return site;
    }
    return nullptr;
  };
  nlohmann::json leeds = site_state("leeds");
  ASSERT_FALSE(leeds.is_null());
  EXPECT_TRUE(leeds["enrolled"].get<bool>());
  EXPECT_EQ(leeds["enrolled_by"], "demo-operator");
  EXPECT_FALSE(leeds["connected"].get<bool>());
  ASSERT_OK_AND_ASSIGN(RunResult table, federation_->Cli({"sites", "list"}));
  EXPECT_THAT(table.output, HasSubstr("enrolled"));

  // A site seen before a restart is still listed after it.
  ASSERT_OK(federation_->StartAgent("guys"));
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
  ASSERT_OK_AND_ASSIGN(auto stopped, federation_->Stop(absl::Seconds(30)));
  ASSERT_OK(federation_->StartCoordinator());
  EXPECT_FALSE(site_state("guys").is_null());
  EXPECT_FALSE(site_state("leeds").is_null());
}

TEST_F(TransportSecurityTest, HealthServiceReportsServing) {
  auto stub = grpc::health::v1::Health::NewStub(
      Dial(*federation_, federation_->Pki("person-auditor.pem"),
           federation_->Pki("person-auditor.key")));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(TransportSecurityTest, SiteListShowsCertificateExpiry) {
  ASSERT_OK(federation_->StartAgent("guys"));
  ASSERT_OK(federation_->WaitForConnectedSites(1, absl::Seconds(60)));
  ASSERT_OK_AND_ASSIGN(RunResult list, federation_->Cli({"sites", "list", "--json"}));
  ASSERT_EQ(list.exit_code, 0) << list.output;
  auto site = nlohmann::json::parse(list.output)["sites"][0];
  ASSERT_OK_AND_ASSIGN(transport::CertificateInfo cert,
                       transport::ParseCertificate(ReadAll(federation_->Pki("site-guys.pem"))));
  EXPECT_EQ(site["certificate_serial"], cert.serial_hex);
  EXPECT_EQ(site["certificate_expires"],
            absl::FormatTime(absl::RFC3339_sec, cert.not_after, absl::UTCTimeZone()));
  ASSERT_OK_AND_ASSIGN(RunResult table, federation_->Cli({"sites", "list"}));
  EXPECT_THAT(table.output, HasSubstr("CERT EXPIRES"));
  EXPECT_THAT(table.output,
              HasSubstr(absl::FormatTime("%Y-%m-%d", cert.not_after, absl::UTCTimeZone())));
}

}  // namespace
}  // namespace tessera::testing
