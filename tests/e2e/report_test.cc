// The board's report end to end, with real processes on 127.0.0.1: three
// trusts train a two-round record-level job, one of them under a budget;
// `tessera budget report` writes JSON, CSV and HTML. The JSON is checked
// against `tessera budget show` (the coordinator's own spend figures) and
// every receipt verifies; the HTML is opened in Debian's headless chromium:
// it loads with no console messages, its screenshot is not blank, and every
// data-field in the rendered DOM carries the JSON's value. Bad input: a job
// that does not exist, a role that may not read the ledger, a bad --format.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_jobs.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kSites = {"gosh", "rfh", "uclh"};

// budget_test.cc's job: the harness's default cohort, record-level DP at a
// target of epsilon 2 over two rounds.
const std::string kJob = DefaultCohortJob("report-e2e", kLogisticModel, kRecordPrivacy);

constexpr char kChromium[] = "/usr/bin/chromium";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The distinct byte values of a PNG's inflated image data (python3's zlib;
// decoding filters is not needed: a blank page inflates to one or two
// values, a page with text and charts to many).
int DistinctImageBytes(const std::string& png) {
  const std::string script =
      "import sys, zlib, struct\n"
      "d = open(sys.argv[1], 'rb').read()\n"
      "assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
      "i, idat = 8, b''\n"
      "while i < len(d):\n"
      "    n, = struct.unpack('>I', d[i:i+4]); t = d[i+4:i+8]\n"
      "    if t == b'IDAT': idat += d[i+8:i+8+n]\n"
      "    i += 12 + n\n"
      "print(len(set(zlib.decompress(idat))))\n";
  auto result = RunCommand({"/usr/bin/python3", "-c", script, png}, absl::Seconds(60));
  if (!result.ok() || result->exit_code != 0) {
    ADD_FAILURE() << "cannot read " << png << ": "
                  << (result.ok() ? result->output : result.status().ToString());
    return 0;
  }
  return std::stoi(result->output);
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(federation_, StartFederationWithAgents(kSites));
  }

  RunResult Cli(const std::vector<std::string>& args, const std::string& role) {
    return RunCli(*federation_, args, role, absl::Seconds(60));
  }

  // Runs a job to completion; its id.
  std::string RunJob() {
    EXPECT_EQ(Cli({"budget", "set", "gosh", "--dataset", "cohort", "--epsilon", "5", "--reason",
                   "board minute 7"},
                  "governance")
                  .exit_code,
              0);
    const std::string job_id = SubmitJob(*federation_, kJob);
    if (job_id.empty()) return "";
    EXPECT_EQ(Cli({"job", "approve", job_id, "--yes"}, "governance").exit_code, 0);
    WaitForJob(
        *federation_, job_id,
        [](const nlohmann::json& job) { return job["summary"]["state"] == "completed"; },
        absl::Seconds(120));
    return job_id;
  }

  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(ReportTest, ReportJsonCsvAndHtmlInAHeadlessBrowser) {
  const std::string job_id = RunJob();
  ASSERT_FALSE(job_id.empty());
  const std::string json_file = federation_->dir() + "/report.json";
  const std::string html_file = federation_->dir() + "/report.html";
  const std::string csv_file = federation_->dir() + "/report.csv";
  for (const auto& [format, file] : std::vector<std::pair<std::string, std::string>>{
           {"json", json_file}, {"html", html_file}, {"csv", csv_file}}) {
    RunResult written = Cli({"budget", "report", "--job", job_id, "--format", format, "--out", file},
                            "auditor");
    ASSERT_EQ(written.exit_code, 0) << written.output;
    EXPECT_THAT(written.output, HasSubstr("0 failed, 0 missing"));
  }
  const nlohmann::json report = ParseJson(ReadFile(json_file));
  ASSERT_FALSE(report.is_discarded());

  // The same spend as the coordinator's `budget show` (both compose the
  // central ledger at each trust's delta); every included participant of
  // both training rounds has a valid receipt.
  const nlohmann::json shown = JsonOf(Cli({"budget", "show", "--json"}, "auditor"));
  ASSERT_EQ(report["trusts"].size(), 3u) << report.dump(2);
  for (const auto& trust : report["trusts"]) {
    bool found = false;
    for (const auto& b : shown["budgets"]) {
      if (b["site_id"] != trust["site_id"]) continue;
      found = true;
      EXPECT_NEAR(trust["spent"].get<double>(), b["spent"].get<double>(), 1e-12);
    }
    EXPECT_TRUE(found) << trust.dump();
    EXPECT_EQ(trust["points"].size(), 2u);
    EXPECT_EQ(trust["budget_set"], trust["site_id"] == "gosh");
  }
  ASSERT_EQ(report["rows"].size(), 6u) << report["rows"].dump(2);  // 3 trusts x 2 rounds
  for (const auto& row : report["rows"]) {
    EXPECT_EQ(row["status"], "included");
    EXPECT_EQ(row["receipt_status"], "valid") << row.dump();
    EXPECT_EQ(row["mechanism"], "poisson-gaussian");
    EXPECT_EQ(row["clip_norm"], 1.0);
    EXPECT_GT(row["epsilon_after"].get<double>(), 0);
  }
  EXPECT_EQ(report["summary"]["receipts_valid"], 6);
  // The audit chain is checked by the tool itself, as `tessera audit verify`.
  EXPECT_EQ(report["audit"]["status"], "ok") << report["audit"].dump();
  EXPECT_THAT(report["audit"]["detail"].get<std::string>(),
              HasSubstr("checked here, none altered, deleted or re-ordered"));
  EXPECT_EQ(report["approvals"][0]["job_id"], job_id);
  EXPECT_THAT(report["approvals"][0]["decided_by"].get<std::string>(), HasSubstr("governance"));
  // Header + one line per row.
  const std::string csv = ReadFile(csv_file);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7) << csv;

  // Bad input: each a clear error.
  RunResult missing = Cli({"budget", "report", "--job", "job-000000000000", "--format", "json",
                           "--out", json_file + ".x"},
                          "governance");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.output, HasSubstr("no job `job-000000000000` exists"));
  RunResult refused =
      Cli({"budget", "report", "--format", "json", "--out", json_file + ".y"}, "ml-lead");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("may not call Admin.ReadPrivacyRecords"));
  RunResult bad_format =
      Cli({"budget", "report", "--format", "pdf", "--out", json_file + ".z"}, "governance");
  EXPECT_NE(bad_format.exit_code, 0);
  EXPECT_THAT(bad_format.output, HasSubstr("--format must be html, json or csv"));

  // The page in a real browser.
  if (access(kChromium, X_OK) != 0) {
    GTEST_SKIP() << "Debian's `chromium` package is not installed (scripts/install-deps.sh "
                    "installs it); the HTML was not opened in a browser";
  }
  const std::map<std::string, std::string> env = {{"HOME", federation_->dir()}};
  const std::string url = "file://" + html_file;
  const std::string png = federation_->dir() + "/report.png";
  ASSERT_OK_AND_ASSIGN(
      RunResult shot,
      RunCommand({kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                  "--enable-logging=stderr", "--v=0", "--screenshot=" + png,
                  "--window-size=1200,2000", url},
                 absl::Seconds(120), env));
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  EXPECT_GT(DistinctImageBytes(png), 16) << "the screenshot looks blank";
  ASSERT_OK_AND_ASSIGN(RunResult dom,
                       RunCommand({kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                                   "--enable-logging=stderr", "--v=0", "--dump-dom", url},
                                  absl::Seconds(120), env));
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  // Console messages (errors, uncaught exceptions) are logged as CONSOLE.
  for (const std::string& output : {shot.output, dom.output}) {
    EXPECT_EQ(output.find(":CONSOLE"), std::string::npos) << output;
    EXPECT_EQ(output.find("Uncaught"), std::string::npos) << output;
  }
  EXPECT_THAT(dom.output, HasSubstr("<polyline class=\"spend\""));
  EXPECT_THAT(dom.output, HasSubstr("What these numbers mean for a patient"));
  const std::regex field(R"re(data-field="([^"]*)" data-value="([^"]*)")re");
  std::set<std::string> seen;
  for (auto it = std::sregex_iterator(dom.output.begin(), dom.output.end(), field);
       it != std::sregex_iterator(); ++it) {
    const std::string pointer = (*it)[1], value = (*it)[2];
    seen.insert(pointer);
    // The page and the JSON were written by two runs of the command.
    if (pointer == "/generated_unix_ms") continue;
    const nlohmann::json& expected = report.at(nlohmann::json::json_pointer(pointer));
    if (expected.is_number()) {
      EXPECT_EQ(std::stod(value), expected.get<double>()) << pointer;
    } else {
      EXPECT_EQ(value, expected.get<std::string>()) << pointer;
    }
  }
  for (size_t i = 0; i < report["trusts"].size(); ++i) {
    EXPECT_TRUE(seen.count("/trusts/" + std::to_string(i) + "/spent")) << i;
  }
  for (size_t i = 0; i < report["rows"].size(); ++i) {
    EXPECT_TRUE(seen.count("/rows/" + std::to_string(i) + "/epsilon_after")) << i;
    EXPECT_TRUE(seen.count("/rows/" + std::to_string(i) + "/noise_multiplier")) << i;
  }
}

}  // namespace
}  // namespace tessera::testing
