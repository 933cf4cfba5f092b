// The preflight report (text, JSON, exit status) and the checks both
// daemons share, on real files and directories. Tests that switch to
// another account (`nobody`) need root and are skipped otherwise.
#include "common/preflight.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera {
namespace {

using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// The `nobody` account, when this test runs as root and it exists.
std::optional<ServiceAccount> Nobody() {
  if (::geteuid() != 0) return std::nullopt;
  const struct passwd* entry = ::getpwnam("nobody");
  if (entry == nullptr) return std::nullopt;
  return ServiceAccount{entry->pw_uid, entry->pw_gid, "nobody"};
}

PreflightReport SampleReport() {
  PreflightReport report;
  report.Add(Ok("config", "agent.toml: every key known"));
  CheckResult warn = Warn("certificate", "expires in 12 days", "renew it");
  warn.counts["days_left"] = 12;
  report.Add(std::move(warn));
  report.Add(Fail("private key", "mode 0644\nsecond line", "chmod 600 site.key"));
  return report;
}

TEST(PreflightReportTest, TextHasOneLinePerCheckItsFixAndASummary) {
  EXPECT_EQ(SampleReport().Text(),
            "OK    config       agent.toml: every key known\n"
            "WARN  certificate  expires in 12 days\n"
            "                   fix: renew it\n"
            "FAIL  private key  mode 0644\n"
            "                   second line\n"
            "                   fix: chmod 600 site.key\n"
            "1 OK, 1 WARN, 1 FAIL\n");
}

TEST(PreflightReportTest, JsonHoldsEveryCheck) {
  const nlohmann::json json = nlohmann::json::parse(SampleReport().Json());
  EXPECT_EQ(json["passed"], false);
  EXPECT_EQ(json["ok"], 1);
  EXPECT_EQ(json["warn"], 1);
  EXPECT_EQ(json["fail"], 1);
  ASSERT_THAT(json["checks"], SizeIs(3));
  EXPECT_EQ(json["checks"][1], (nlohmann::json{{"name", "certificate"},
                                               {"status", "warn"},
                                               {"detail", "expires in 12 days"},
                                               {"fix", "renew it"},
                                               {"counts", {{"days_left", 12}}}}));
  EXPECT_EQ(json["checks"][2]["status"], "fail");
}

TEST(PreflightReportTest, FailsOnlyWhenACheckFails) {
  PreflightReport report;
  report.Add(Ok("a", "fine"));
  report.Add(Warn("b", "meh", "look"));
  EXPECT_TRUE(report.passed());
  EXPECT_OK(report.ToStatus());
  report.Add(Fail("c", "broken", "fix it"));
  EXPECT_FALSE(report.passed());
  EXPECT_THAT(report.ToStatus(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("1 of 3 checks failed")));
}

TEST(PreflightReportTest, ResultsSurviveEncoding) {
  const std::vector<CheckResult> results = SampleReport().results();
  ASSERT_OK_AND_ASSIGN(std::vector<CheckResult> decoded, DecodeResults(EncodeResults(results)));
  ASSERT_THAT(decoded, SizeIs(3));
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(decoded[i].name, results[i].name);
    EXPECT_EQ(decoded[i].verdict, results[i].verdict);
    EXPECT_EQ(decoded[i].detail, results[i].detail);
    EXPECT_EQ(decoded[i].fix, results[i].fix);
    EXPECT_EQ(decoded[i].counts, results[i].counts);
  }
  EXPECT_THAT(DecodeResults("garbage"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeResults(R"([{"name":"x","status":"maybe","detail":"","fix":"","counts":{}}])"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SplitHostPortTest, SplitsNamesAndBracketedAddresses) {
  std::string host;
  std::string port;
  EXPECT_TRUE(SplitHostPort("tessera.example.nhs.uk:7443", &host, &port));
  EXPECT_EQ(host, "tessera.example.nhs.uk");
  EXPECT_EQ(port, "7443");
  EXPECT_TRUE(SplitHostPort("[::1]:7443", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "7443");
  EXPECT_TRUE(SplitHostPort(":7443", &host, &port));
  EXPECT_EQ(host, "");
  EXPECT_FALSE(SplitHostPort("proxy.trust.nhs.uk", &host, &port));
  EXPECT_EQ(host, "proxy.trust.nhs.uk");
  EXPECT_FALSE(SplitHostPort("[::1]", &host, &port));
  EXPECT_FALSE(SplitHostPort("::1:7443", &host, &port));  // IPv6 needs brackets
}

TEST(PrivateKeyCheckTest, ModeAndOwnerDecide) {
  TempDir dir;
  const std::string key = dir.File("site.key");
  const ServiceAccount me = CurrentAccount();
  WriteFile(key, "-----BEGIN PRIVATE KEY-----\n", 0600);
  CheckResult ok = CheckPrivateKeyFile(key, me);
  EXPECT_EQ(ok.verdict, Verdict::kOk) << ok.detail;
  EXPECT_THAT(ok.detail, HasSubstr("mode 0600"));

  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  CheckResult readable = CheckPrivateKeyFile(key, me);
  EXPECT_EQ(readable.verdict, Verdict::kFail);
  EXPECT_THAT(readable.detail, HasSubstr("mode 0644"));
  EXPECT_EQ(readable.fix, "chmod 600 " + key + " (and keep it readable by root only)");

  CheckResult missing = CheckPrivateKeyFile(dir.File("absent.key"), me);
  EXPECT_EQ(missing.verdict, Verdict::kFail);
  EXPECT_THAT(missing.detail, HasSubstr("does not exist"));
  EXPECT_THAT(missing.fix, HasSubstr("tessera-agent enroll"));
}

TEST(PrivateKeyCheckTest, KeyOwnedBySomeoneElseFails) {
  std::optional<ServiceAccount> nobody = Nobody();
  if (!nobody) GTEST_SKIP() << "needs root and a `nobody` account";
  TempDir dir;
  const std::string key = dir.File("site.key");
  WriteFile(key, "key", 0600);
  ASSERT_EQ(::chown(key.c_str(), nobody->uid, nobody->gid), 0);
  // `nobody` is not the service account here (root is): it could read the key.
  CheckResult other = CheckPrivateKeyFile(key, CurrentAccount());
  EXPECT_EQ(other.verdict, Verdict::kFail);
  EXPECT_THAT(other.detail, HasSubstr("owned by `nobody`"));
  EXPECT_EQ(other.fix, "chown root:root " + key);
  // Owned by the service account itself is fine (containers run that way).
  EXPECT_EQ(CheckPrivateKeyFile(key, *nobody).verdict, Verdict::kOk);
}

TEST(ExpiryCheckTest, WarnsWithinTheWindowAndFailsWhenExpired) {
  const absl::Time now = absl::FromUnixSeconds(1'767'225'600);  // 2026-01-01T00:00:00Z
  const absl::Duration window = absl::Hours(24 * 30);
  CheckResult ok =
      CheckExpiry("certificate", "site `rfh`", now + absl::Hours(24 * 90), now, window, "renew");
  EXPECT_EQ(ok.verdict, Verdict::kOk);
  EXPECT_EQ(ok.detail, "site `rfh` valid until 2026-04-01 (90 days)");
  EXPECT_EQ(ok.counts.at("days_left"), 90);

  CheckResult soon = CheckExpiry("certificate", "site `rfh`", now + absl::Hours(24 * 12 + 5), now,
                                 window, "renew");
  EXPECT_EQ(soon.verdict, Verdict::kWarn);
  EXPECT_EQ(soon.detail, "site `rfh` expires on 2026-01-13, in 12 days");
  EXPECT_EQ(soon.fix, "renew");

  CheckResult expired =
      CheckExpiry("certificate", "site `rfh`", now - absl::Hours(24), now, window, "renew");
  EXPECT_EQ(expired.verdict, Verdict::kFail);
  EXPECT_EQ(expired.detail, "site `rfh` expired on 2025-12-31");
  EXPECT_EQ(expired.counts.at("days_left"), -1);
}

TEST(FreeSpaceTest, WarnsUnderTheThreshold) {
  EXPECT_EQ(EvaluateFreeSpace("free space", "/var/lib/tessera", 5 * kGiB, kGiB).verdict,
            Verdict::kOk);
  CheckResult low = EvaluateFreeSpace("free space", "/var/lib/tessera", kGiB / 2, kGiB);
  EXPECT_EQ(low.verdict, Verdict::kWarn);
  EXPECT_EQ(low.detail, "`/var/lib/tessera`: 0.5 GiB free, under 1.0 GiB");
  EXPECT_EQ(low.counts.at("free_bytes"), static_cast<int64_t>(kGiB / 2));
}

TEST(StateDirectoryTest, WritablePrivateDirectoryPasses) {
  TempDir dir;
  const std::string state = dir.File("state");
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  std::vector<CheckResult> results = CheckStateDirectory("state", state, 0);
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_EQ(results[0].verdict, Verdict::kOk) << results[0].detail;
  EXPECT_EQ(results[1].name, "free space");
  EXPECT_EQ(results[1].verdict, Verdict::kOk);
  // The probe file is gone again.
  EXPECT_EQ(::rmdir(state.c_str()), 0);
}

TEST(StateDirectoryTest, OpenModeWarnsAndMissingOrFileFails) {
  TempDir dir;
  const std::string state = dir.File("state");
  ASSERT_EQ(::mkdir(state.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(state.c_str(), 0755), 0);
  std::vector<CheckResult> open = CheckStateDirectory("state", state, 0);
  EXPECT_EQ(open[0].verdict, Verdict::kWarn);
  EXPECT_EQ(open[0].fix, "chmod 700 " + state);

  // Not there yet, but the daemon can create it.
  std::vector<CheckResult> later = CheckStateDirectory("state", dir.File("new"), 0);
  ASSERT_THAT(later, SizeIs(2));
  EXPECT_EQ(later[0].verdict, Verdict::kWarn);
  EXPECT_THAT(later[0].detail, HasSubstr("does not exist yet"));

  std::vector<CheckResult> nowhere = CheckStateDirectory("state", dir.File("a/b"), 0);
  ASSERT_THAT(nowhere, SizeIs(1));
  EXPECT_EQ(nowhere[0].verdict, Verdict::kFail);

  WriteFile(dir.File("file"), "x", 0600);
  EXPECT_EQ(CheckStateDirectory("state", dir.File("file"), 0)[0].verdict, Verdict::kFail);
}

TEST(RunAsAccountTest, ChecksRunAsTheServiceAccount) {
  std::optional<ServiceAccount> nobody = Nobody();
  if (!nobody) GTEST_SKIP() << "needs root and a `nobody` account";
  std::vector<CheckResult> results = RunAsAccount(*nobody, "as service", [] {
    return std::vector<CheckResult>{Ok("who", CurrentAccount().name)};
  });
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].detail, "nobody");
  // Root can write a root-owned 0700 directory; the service cannot.
  TempDir dir;
  const std::string state = dir.File("state");
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  EXPECT_EQ(CheckStateDirectory("state", state, 0)[0].verdict, Verdict::kOk);
  std::vector<CheckResult> as_nobody =
      RunAsAccount(*nobody, "state", [&state] { return CheckStateDirectory("state", state, 0); });
  ASSERT_FALSE(as_nobody.empty());
  EXPECT_EQ(as_nobody[0].verdict, Verdict::kFail);
  EXPECT_THAT(as_nobody[0].detail, HasSubstr("`nobody`"));
}

TEST(RunAsAccountTest, RunsInProcessForTheCurrentAccount) {
  const pid_t parent = ::getpid();
  std::vector<CheckResult> results = RunAsAccount(CurrentAccount(), "here", [parent] {
    return std::vector<CheckResult>{::getpid() == parent ? Ok("pid", "same process")
                                                         : Fail("pid", "forked", "")};
  });
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].verdict, Verdict::kOk);
}

TEST(IdentityCheckTest, SaysWhoseAccessIsTested) {
  const ServiceAccount me = CurrentAccount();
  EXPECT_EQ(CheckIdentity(me, "/var/lib/tessera", "tessera-agent").verdict, Verdict::kOk);
  std::optional<ServiceAccount> nobody = Nobody();
  if (!nobody) return;
  CheckResult as_root = CheckIdentity(*nobody, "/var/lib/tessera", "tessera-agent");
  EXPECT_EQ(as_root.verdict, Verdict::kOk);
  EXPECT_THAT(as_root.detail, HasSubstr("tested as `nobody`"));
}

TEST(ReadableFilesTest, NamesEachFileThatCannotBeRead) {
  TempDir dir;
  WriteFile(dir.File("ca.pem"), "ca", 0644);
  CheckResult ok = CheckReadableFiles(
      "tls files", {{"CA certificate", dir.File("ca.pem")}, {"revocation list", ""}});
  EXPECT_EQ(ok.verdict, Verdict::kOk);
  EXPECT_THAT(ok.detail, HasSubstr(dir.File("ca.pem")));
  CheckResult missing = CheckReadableFiles(
      "tls files", {{"CA certificate", dir.File("ca.pem")}, {"certificate", dir.File("site.pem")}});
  EXPECT_EQ(missing.verdict, Verdict::kFail);
  EXPECT_THAT(missing.detail, HasSubstr("certificate `" + dir.File("site.pem") + "`"));
  EXPECT_THAT(missing.detail, Not(HasSubstr("CA certificate")));
}

}  // namespace
}  // namespace tessera
