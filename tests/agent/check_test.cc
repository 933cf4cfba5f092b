// `tessera-agent check`, one check at a time: real files, certificates made
// with the federation PKI (transport/pki.h), real CSV datasets, and a
// coordinator address where nothing listens. The whole command against a
// running coordinator is in tests/e2e/preflight_test.cc.
#include "agent/check.h"

#include <sys/stat.h>

#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "transport/pki.h"

namespace tessera::agent {
namespace {

using ::tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'767'225'600);  // 2026-01-01T00:00:00Z

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// A federation CA and one site, as files: ca.pem, site.pem, site.key.
class SitePki {
 public:
  explicit SitePki(const TempDir& dir) : dir_(dir) {
    ca_key_ = transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value();
    ca_ = transport::CreateCaCertificatePem(ca_key_, "Test federation", kNow - absl::Hours(24),
                                            absl::Hours(24 * 3650))
              .value();
    site_key_ = transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value();
    WriteFile(dir.File("ca.pem"), ca_);
    WriteFile(dir.File("site.key"), site_key_, 0600);
    IssueSite(kNow - absl::Hours(24), kNow + absl::Hours(24 * 365));
  }

  // Replaces site.pem with a certificate for the site key valid over
  // [not_before, not_after].
  void IssueSite(absl::Time not_before, absl::Time not_after,
                 transport::Role role = transport::Role::kSite) {
    transport::IssueRequest request;
    request.subject = {"rfh", role};
    request.public_key_pem = transport::PublicKeyPemOf(site_key_).value();
    request.serial = next_serial_++;
    request.not_before = not_before;
    request.not_after = not_after;
    WriteFile(dir_.File("site.pem"), transport::IssueCertificatePem(ca_, ca_key_, request).value());
  }

  transport::TlsFiles files() const {
    return {dir_.File("ca.pem"), dir_.File("site.pem"), dir_.File("site.key")};
  }

 private:
  const TempDir& dir_;
  std::string ca_key_;
  std::string ca_;
  std::string site_key_;
  uint64_t next_serial_ = 2;
};

TEST(AgentConfigCheckTest, ReportsEveryProblemOrLoadsTheConfig) {
  TempDir dir;
  WriteFile(dir.File("agent.toml"),
            "[coordinator]\naddress = \"tessera.example:7443\"\n[tls]\nca_file = \"ca.pem\"\n"
            "cert_file = \"site.pem\"\nkey_file = \"site.key\"\n[log]\nlevel = \"debug\"\n"
            "format = \"json\"\n");
  std::optional<AgentConfig> config;
  CheckResult ok = CheckAgentConfig(dir.File("agent.toml"), &config);
  EXPECT_EQ(ok.verdict, Verdict::kOk) << ok.detail;
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->log.level, "debug");
  EXPECT_EQ(config->log.format, LogFormat::kJson);

  WriteFile(dir.File("typo.toml"),
            "[coordinator]\naddress = \"tessera.example:7443\"\n[tls]\nca_file = \"ca.pem\"\n"
            "cert_file = \"site.pem\"\nkeyfile = \"site.key\"\n");
  std::optional<AgentConfig> none;
  CheckResult typo = CheckAgentConfig(dir.File("typo.toml"), &none);
  EXPECT_EQ(typo.verdict, Verdict::kFail);
  EXPECT_THAT(typo.detail, HasSubstr("missing required key `tls.key_file`"));
  EXPECT_THAT(typo.detail, HasSubstr("unknown key `tls.keyfile`"));
  EXPECT_FALSE(none.has_value());

  EXPECT_THAT(CheckAgentConfig(dir.File("absent.toml"), &none).fix, HasSubstr("--config"));
}

TEST(SiteCertificateCheckTest, ValidCertificateShowsDaysLeft) {
  TempDir dir;
  SitePki pki(dir);
  CheckResult result = CheckSiteCertificate(pki.files(), kNow);
  EXPECT_EQ(result.verdict, Verdict::kOk) << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("site `rfh`"));
  EXPECT_EQ(result.counts.at("days_left"), 365);
}

TEST(SiteCertificateCheckTest, WarnsUnderThirtyDaysAndFailsWhenExpired) {
  TempDir dir;
  SitePki pki(dir);
  pki.IssueSite(kNow - absl::Hours(24 * 300), kNow + absl::Hours(24 * 12));
  CheckResult soon = CheckSiteCertificate(pki.files(), kNow);
  EXPECT_EQ(soon.verdict, Verdict::kWarn);
  EXPECT_THAT(soon.detail, HasSubstr("in 12 days"));
  EXPECT_THAT(soon.fix, HasSubstr("tessera-agent enroll"));

  pki.IssueSite(kNow - absl::Hours(24 * 300), kNow - absl::Hours(24));
  CheckResult expired = CheckSiteCertificate(pki.files(), kNow);
  EXPECT_EQ(expired.verdict, Verdict::kFail);
  EXPECT_THAT(expired.detail, HasSubstr("expired on 2025-12-31"));
}

TEST(SiteCertificateCheckTest, WrongCaRoleOrMissingFileFails) {
  TempDir dir;
  SitePki pki(dir);
  TempDir other_dir;
  SitePki other(other_dir);
  transport::TlsFiles foreign_ca = pki.files();
  foreign_ca.ca_file = other.files().ca_file;
  CheckResult foreign = CheckSiteCertificate(foreign_ca, kNow);
  EXPECT_EQ(foreign.verdict, Verdict::kFail);
  EXPECT_THAT(foreign.detail, HasSubstr("CA"));

  pki.IssueSite(kNow - absl::Hours(24), kNow + absl::Hours(24 * 365), transport::Role::kOperator);
  CheckResult person = CheckSiteCertificate(pki.files(), kNow);
  EXPECT_EQ(person.verdict, Verdict::kFail);
  EXPECT_THAT(person.detail, HasSubstr("not `site`"));

  transport::TlsFiles missing = pki.files();
  missing.cert_file = dir.File("absent.pem");
  CheckResult absent = CheckSiteCertificate(missing, kNow);
  EXPECT_EQ(absent.verdict, Verdict::kFail);
  EXPECT_THAT(absent.fix, HasSubstr("install-cert"));
}

TEST(ClockSkewTest, ThresholdsAreOneAndFiveMinutes) {
  EXPECT_EQ(EvaluateClockSkew(absl::Milliseconds(300)).verdict, Verdict::kOk);
  EXPECT_EQ(EvaluateClockSkew(absl::Seconds(60)).verdict, Verdict::kOk);  // "above 60 s" warns
  CheckResult behind = EvaluateClockSkew(absl::Seconds(90));
  EXPECT_EQ(behind.verdict, Verdict::kWarn);
  EXPECT_EQ(behind.detail, "this server's clock is 1m30s behind the coordinator's");
  EXPECT_EQ(behind.counts.at("skew_ms"), 90'000);
  CheckResult ahead = EvaluateClockSkew(-absl::Minutes(10));
  EXPECT_EQ(ahead.verdict, Verdict::kFail);
  EXPECT_EQ(ahead.detail, "this server's clock is 10m ahead of the coordinator's");
  EXPECT_EQ(EvaluateClockSkew(absl::Minutes(5)).verdict, Verdict::kWarn);
}

GetEnv Env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

TEST(ProxyTest, FollowsGrpcOrderAndNoProxy) {
  EXPECT_FALSE(ProxyFor("tessera.nhs.uk:7443", Env({})).has_value());

  auto https = ProxyFor("tessera.nhs.uk:7443",
                        Env({{"https_proxy", "http://alice:s3cret@proxy.trust.nhs.uk:3128/"}}));
  ASSERT_TRUE(https.has_value());
  EXPECT_EQ(https->variable, "https_proxy");
  EXPECT_EQ(https->host_port, "proxy.trust.nhs.uk:3128");  // no user, no password

  auto grpc =
      ProxyFor("tessera.nhs.uk:7443",
               Env({{"grpc_proxy", "http://first:8080"}, {"https_proxy", "http://second:3128"}}));
  ASSERT_TRUE(grpc.has_value());
  EXPECT_EQ(grpc->host_port, "first:8080");

  auto no_port = ProxyFor("tessera.nhs.uk:7443", Env({{"http_proxy", "proxy"}}));
  ASSERT_TRUE(no_port.has_value());
  EXPECT_EQ(no_port->host_port, "proxy:443");

  EXPECT_FALSE(ProxyFor("tessera.nhs.uk:7443", Env({{"https_proxy", "http://proxy:3128"},
                                                    {"no_proxy", "localhost, .NHS.UK"}}))
                   .has_value());
  // no_grpc_proxy wins over no_proxy, as in gRPC.
  EXPECT_TRUE(ProxyFor("tessera.nhs.uk:7443", Env({{"https_proxy", "http://proxy:3128"},
                                                   {"no_grpc_proxy", "example.org"},
                                                   {"no_proxy", "nhs.uk"}}))
                  .has_value());
}

// A CSV of `rows` records: age 40..79, outcome 0/1.
std::string Cohort(int rows) {
  std::string text = "age,outcome\n";
  for (int i = 0; i < rows; ++i)
    text += std::to_string(40 + i % 40) + "," + std::to_string(i % 2) + "\n";
  return text;
}

coordinator::JobSpec JobOn(const std::string& dataset, double max_age) {
  coordinator::JobSpec job;
  job.name = "readmission";
  job.dataset = dataset;
  job.schema.features = {data::NumericColumn("age", 0, max_age)};
  job.schema.label = data::BinaryColumn("outcome");
  return job;
}

TEST(DatasetCheckTest, CountsRecordsAndStructuralProblems) {
  TempDir dir;
  WriteFile(dir.File("good.csv"), Cohort(150));
  // Line 3 has three fields under a two-column header.
  WriteFile(dir.File("ragged.csv"), "age,outcome\n41,1\n42,0,9\n43,1\n");
  std::vector<data::DatasetConfig> datasets = {
      {"cohort", data::DatasetKind::kCsv, dir.File("good.csv"), ""},
      {"ragged", data::DatasetKind::kCsv, dir.File("ragged.csv"), ""},
      {"missing", data::DatasetKind::kCsv, dir.File("absent.csv"), ""}};
  std::vector<CheckResult> results = CheckDatasets(datasets, {});
  ASSERT_THAT(results, SizeIs(3));
  EXPECT_EQ(results[0].name, "dataset cohort");
  EXPECT_EQ(results[0].verdict, Verdict::kOk);
  EXPECT_EQ(results[0].counts.at("records"), 150);
  EXPECT_EQ(results[0].counts.at("columns"), 2);

  EXPECT_EQ(results[1].verdict, Verdict::kWarn);
  EXPECT_THAT(results[1].detail, HasSubstr("1 record with a wrong number of fields"));
  EXPECT_THAT(results[1].detail, HasSubstr("first at line 3"));
  EXPECT_EQ(results[1].counts.at("defective_records"), 1);

  EXPECT_EQ(results[2].verdict, Verdict::kFail);
  EXPECT_THAT(results[2].detail, HasSubstr("absent.csv"));
  EXPECT_THAT(results[2].fix, HasSubstr("datasets.missing.path"));

  // Heartbeats report what could be read, bucketed (150 -> 100, 3 -> 0).
  std::vector<DatasetInventory> inventory = InventoryFromResults(results);
  ASSERT_THAT(inventory, SizeIs(2));
  EXPECT_EQ(inventory[0].name, "cohort");
  EXPECT_EQ(inventory[0].record_count_bucket, 100u);
  EXPECT_EQ(inventory[1].name, "ragged");
  EXPECT_EQ(inventory[1].record_count_bucket, 0u);
}

TEST(DatasetCheckTest, JobSchemaDecidesUsedAndSkippedRecords) {
  TempDir dir;
  WriteFile(dir.File("cohort.csv"), Cohort(80));
  std::vector<data::DatasetConfig> datasets = {
      {"cohort", data::DatasetKind::kCsv, dir.File("cohort.csv"), ""}};

  std::vector<CheckResult> all_fit = CheckDatasets(datasets, {JobOn("cohort", 120)});
  ASSERT_THAT(all_fit, SizeIs(2));
  EXPECT_EQ(all_fit[1].name, "job readmission / cohort");
  EXPECT_EQ(all_fit[1].verdict, Verdict::kOk) << all_fit[1].detail;
  EXPECT_EQ(all_fit[1].counts.at("records_used"), 80);

  // Ages run 40..79 twice; max 59 leaves 20 of each 40 out of range.
  std::vector<CheckResult> some_skipped = CheckDatasets(datasets, {JobOn("cohort", 59)});
  EXPECT_EQ(some_skipped[1].verdict, Verdict::kWarn);
  EXPECT_EQ(some_skipped[1].counts.at("records_skipped"), 40);
  EXPECT_THAT(some_skipped[1].detail, HasSubstr("out of range"));
  // Counts and line numbers only: no age value appears.
  EXPECT_THAT(some_skipped[1].detail, Not(HasSubstr("79")));

  std::vector<CheckResult> none_fit = CheckDatasets(datasets, {JobOn("cohort", 10)});
  EXPECT_EQ(none_fit[1].verdict, Verdict::kFail);

  coordinator::JobSpec other_column = JobOn("cohort", 120);
  other_column.schema.features = {data::NumericColumn("hba1c")};
  std::vector<CheckResult> missing_column = CheckDatasets(datasets, {other_column});
  EXPECT_EQ(missing_column[1].verdict, Verdict::kFail);
  EXPECT_THAT(missing_column[1].detail, HasSubstr("`hba1c`"));
  EXPECT_THAT(missing_column[1].fix, HasSubstr("rename"));

  std::vector<CheckResult> unknown_dataset = CheckDatasets(datasets, {JobOn("diabetes", 120)});
  EXPECT_EQ(unknown_dataset[1].verdict, Verdict::kFail);
  EXPECT_THAT(unknown_dataset[1].detail, HasSubstr("does not offer"));
  EXPECT_THAT(unknown_dataset[1].fix, HasSubstr("[datasets.diabetes]"));
}

TEST(CoordinatorCheckTest, UnreachableCoordinatorFailsAndClockIsNotMeasured) {
  TempDir dir;
  SitePki pki(dir);
  AgentConfig config;
  config.coordinator_address = "127.0.0.1:1";  // nothing listens on port 1
  config.tls = pki.files();
  std::vector<CheckResult> results = CheckCoordinator(config, {}, std::nullopt);
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_EQ(results[0].name, "coordinator");
  EXPECT_EQ(results[0].verdict, Verdict::kFail);
  EXPECT_THAT(results[0].detail, HasSubstr("no answer from 127.0.0.1:1"));
  EXPECT_EQ(results[1].name, "clock");
  EXPECT_EQ(results[1].verdict, Verdict::kWarn);
}

TEST(CoordinatorCheckTest, ProxyThatRefusesConnectionsFails) {
  TempDir dir;
  SitePki pki(dir);
  AgentConfig config;
  config.coordinator_address = "127.0.0.1:1";
  config.tls = pki.files();
  std::vector<CheckResult> results =
      CheckCoordinator(config, {}, ProxySetting{"https_proxy", "127.0.0.1:1"});
  ASSERT_THAT(results, SizeIs(3));
  EXPECT_EQ(results[0].name, "proxy");
  EXPECT_EQ(results[0].verdict, Verdict::kFail);
  EXPECT_THAT(results[0].detail, HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(results[0].fix, HasSubstr("https_proxy"));
  EXPECT_THAT(results[1].detail, HasSubstr("through the proxy 127.0.0.1:1"));
}

TEST(CoordinatorCheckTest, UnusableKeyIsReportedBeforeDialling) {
  TempDir dir;
  SitePki pki(dir);
  ASSERT_EQ(::chmod(pki.files().key_file.c_str(), 0644), 0);
  AgentConfig config;
  config.coordinator_address = "127.0.0.1:1";
  config.tls = pki.files();
  std::vector<CheckResult> results = CheckCoordinator(config, {}, std::nullopt);
  EXPECT_EQ(results[0].verdict, Verdict::kFail);
  EXPECT_THAT(results[0].detail, HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace tessera::agent
