// Raw data never leaves a trust: sentinel values planted in one site's CSV
// appear in nothing that left its agent and in no file or log outside that
// CSV, after a whole private job (statistics round and three training rounds
// with record-level DP and secure aggregation). The site's agent dials a
// recording relay (tests/e2e/recording_relay.h) that keeps every request
// message it sent; the other sites dial the coordinator directly.
//
// A row with an undeclared categorical value (a sentinel string) is skipped;
// its value must not be echoed in any message, log or file either.
//
// Patterns searched, and the chance that one appears by accident in N bytes
// of random-looking data (masked vectors, ciphertexts, hashes):
//   * each sentinel as written in the CSV, decimal text of 13 characters or
//     the ward's 23: N / 2^104 at most;
//   * each sentinel as a little-endian float64 (8 bytes): N / 2^64;
//   * each sentinel row's two features as consecutive little-endian float32
//     (8 bytes, how a row would sit in a float tensor): N / 2^64.
// With N below 2^30 bytes here, each is below 2^-34: a match is a leak.
#include <dirent.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/local_federation.h"
#include "tessera.pb.h"
#include "tests/e2e/recording_relay.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

const std::vector<std::string> kSites = {"gosh", "rfh", "uclh"};
const std::string kWatched = "rfh";

// Sentinel rows: age and BMI with digit strings no generated value has
// (the other rows have whole ages and one decimal of BMI).
struct Sentinel {
  std::string age_text;
  std::string bmi_text;
};
const std::vector<Sentinel> kSentinels = {
    {"61.2718281828", "27.3141592653"}, {"47.1414213562", "31.1732050807"},
    {"72.6931471805", "22.5772156649"}, {"55.4142135623", "29.8660254037"}};

// A ward no job declares: the row that carries it is invalid, skipped and
// counted, and its value must not be echoed anywhere either.
const std::string kSentinelWard = "ward-QX7Z-sentinel-4417";

std::string Cohort(int records, uint32_t seed, bool with_sentinels) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> age(55, 12);
  std::normal_distribution<double> bmi(27, 4);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::string csv = "age,bmi,ward,outcome\n";
  for (int i = 0; i < records; ++i) {
    const int a = static_cast<int>(std::clamp(age(rng), 18.0, 99.0));
    const double b = static_cast<int>(std::clamp(bmi(rng), 15.0, 50.0) * 10) / 10.0;
    const double logit = 0.08 * (a - 55) + 0.15 * (b - 27);
    absl::StrAppend(&csv, a, ",", b, ",", i % 3 == 0 ? "surgical" : "medical", ",",
                    uniform(rng) < 1 / (1 + std::exp(-logit)) ? 1 : 0, "\n");
    if (with_sentinels && i % 50 == 7 && static_cast<size_t>(i / 50) < kSentinels.size()) {
      const Sentinel& s = kSentinels[static_cast<size_t>(i / 50)];
      absl::StrAppend(&csv, s.age_text, ",", s.bmi_text, ",medical,", i % 2, "\n");
    }
  }
  if (with_sentinels) absl::StrAppend(&csv, "50,25.5,", kSentinelWard, ",1\n");
  return csv;
}

constexpr char kJob[] = R"([job]
name = "no-patient-data"
dataset = "cohort"
[model]
kind = "logistic"
[schema]
label = "outcome"
[schema.columns.age]
type = "numeric"
min = 18
max = 100
[schema.columns.bmi]
type = "numeric"
min = 10
max = 60
[schema.columns.ward]
type = "categorical"
categories = ["medical", "surgical"]
[schema.columns.outcome]
type = "binary"
[training]
learning_rate = 0.2
local_epochs = 1
batch_size = 16
[rounds]
count = 3
min_sites = 3
max_sites = 3
stage_timeout_seconds = 30
[privacy]
mode = "record"
noise_multiplier = 1.1
clip_norm = 1.0
[secure_aggregation]
threshold = 2
neighbours = 0
bit_width = 32
)";

// Every pattern of every sentinel, with a name for messages.
std::vector<std::pair<std::string, std::string>> Patterns() {
  std::vector<std::pair<std::string, std::string>> patterns;
  for (const Sentinel& s : kSentinels) {
    for (const std::string& text : {s.age_text, s.bmi_text}) {
      patterns.push_back({"text " + text, text});
      const double value = std::stod(text);
      std::string f64(sizeof(double), '\0');
      std::memcpy(f64.data(), &value, sizeof(double));  // x86-64: little-endian
      patterns.push_back({"float64 " + text, f64});
    }
    const float row[2] = {std::stof(s.age_text), std::stof(s.bmi_text)};
    std::string f32(sizeof(row), '\0');
    std::memcpy(f32.data(), row, sizeof(row));
    patterns.push_back({"float32 row " + s.age_text + "," + s.bmi_text, f32});
  }
  patterns.push_back({"text " + kSentinelWard, kSentinelWard});
  return patterns;
}

void ExpectNoSentinel(const std::string& where, const std::string& bytes) {
  for (const auto& [name, pattern] : Patterns()) {
    EXPECT_EQ(bytes.find(pattern), std::string::npos) << name << " found in " << where;
  }
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Every regular file under `dir`, recursively.
void ListFiles(const std::string& dir, std::vector<std::string>& out) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return;
  while (dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = dir + "/" + name;
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) continue;
    if (S_ISDIR(info.st_mode)) {
      ListFiles(path, out);
    } else if (S_ISREG(info.st_mode)) {
      out.push_back(path);
    }
  }
  ::closedir(handle);
}

TEST(NoPatientDataTest, SentinelsNeverLeaveTheSite) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LocalFederation> federation, LocalFederation::Start(kSites));
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<RecordingRelay> relay,
      RecordingRelay::Start({federation->Pki("ca.pem"), federation->Pki("coordinator.pem"),
                             federation->Pki("coordinator.key")},
                            {federation->Pki("ca.pem"), federation->Pki("site-" + kWatched + ".pem"),
                             federation->Pki("site-" + kWatched + ".key")},
                            federation->address()));
  const std::string policy = "[policy]\nmax_epsilon = 50\n";
  uint32_t seed = 21;
  for (const std::string& site : kSites) {
    const bool watched = site == kWatched;
    federation->SetAgentSetup(site, {Cohort(240, seed++, watched), policy,
                                     watched ? relay->address() : ""});
    ASSERT_OK(federation->StartAgent(site));
  }
  ASSERT_OK(federation->WaitForConnectedSites(kSites.size(), absl::Seconds(30)))
      << federation->CoordinatorOutput() << federation->AgentOutput(kWatched);

  const std::string job_file = federation->dir() + "/job.toml";
  std::ofstream(job_file) << kJob;
  ASSERT_OK_AND_ASSIGN(RunResult submitted,
                       federation->Cli({"job", "submit", job_file}, "ml-lead", absl::Seconds(60)));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(submitted.output, match, std::regex("job-[0-9a-f]{12}")))
      << submitted.output;
  const std::string job_id = match.str();
  ASSERT_OK_AND_ASSIGN(RunResult approved,
                       federation->Cli({"job", "approve", job_id, "--yes"}, "governance"));
  ASSERT_EQ(approved.exit_code, 0) << approved.output;
  std::string cli_output = submitted.output + approved.output;

  // Until the job is done (three training rounds), bounded.
  std::string state;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (absl::Now() < deadline) {
    ASSERT_OK_AND_ASSIGN(RunResult shown,
                         federation->Cli({"job", "show", job_id, "--json"}, "ml-lead"));
    cli_output += shown.output;
    const nlohmann::json job = nlohmann::json::parse(shown.output, nullptr, false);
    if (!job.is_discarded() && job["summary"]["state"] == "completed") {
      state = "completed";
      break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_EQ(state, "completed") << cli_output << federation->CoordinatorOutput();
  ASSERT_OK_AND_ASSIGN(RunResult exported,
                       federation->Cli({"model", "export", job_id, "--out",
                                        federation->dir() + "/exported.pt"},
                                       "ml-lead"));
  cli_output += exported.output;
  const std::string watched_log = federation->AgentOutput(kWatched);
  ASSERT_OK(federation->Stop(absl::Seconds(30)).status());

  // The relay saw the watched site's whole part: heartbeats, polls and at
  // least one masked input per round (so this test cannot pass vacuously).
  const std::vector<RecordingRelay::Message> captured = relay->Captured();
  std::string all;
  int submissions = 0;
  int masked_inputs = 0;
  for (const RecordingRelay::Message& message : captured) {
    all += message.bytes;
    if (message.method != "SubmitStage") continue;
    ++submissions;
    tessera::v1::StageSubmission submission;
    ASSERT_TRUE(submission.ParseFromString(message.bytes));
    if (submission.round().stage() == tessera::v1::STAGE_MASKED_INPUT &&
        (submission.has_payload() || submission.has_uploaded())) {
      ++masked_inputs;
    }
  }
  ASSERT_GT(all.size(), 1000u);
  // Four rounds (statistics + 3) of five stage messages each, a masked input
  // in each.
  EXPECT_GE(submissions, 20);
  EXPECT_GE(masked_inputs, 4);

  ExpectNoSentinel("the bytes the agent sent", all);
  ExpectNoSentinel("the agent's call metadata", relay->Metadata());
  ExpectNoSentinel("the CLI's output", cli_output);

  // Every file of the test's federation (coordinator database and objects,
  // checkpoints, the exported model, every log, every site's state) but the
  // watched site's own CSV.
  std::vector<std::string> files;
  ListFiles(federation->dir(), files);
  const std::string own_csv = federation->dir() + "/cohort-" + kWatched + ".csv";
  bool saw_csv = false;
  size_t scanned = 0;
  for (const std::string& file : files) {
    if (file == own_csv) {
      saw_csv = true;
      continue;
    }
    ExpectNoSentinel(file, ReadAll(file));
    ++scanned;
  }
  // The planted values are really in the CSV the agent read (the scan would
  // otherwise prove nothing).
  ASSERT_TRUE(saw_csv);
  const std::string csv = ReadAll(own_csv);
  for (const Sentinel& s : kSentinels) EXPECT_NE(csv.find(s.bmi_text), std::string::npos);
  EXPECT_GT(scanned, 10u);
  EXPECT_NE(csv.find(kSentinelWard), std::string::npos);
  // ...and the agent used every row but the one with the undeclared ward:
  // the planted numbers went into the statistics and the training.
  EXPECT_THAT(watched_log, ::testing::HasSubstr("rows_skipped=1"));
}

}  // namespace
}  // namespace tessera::testing
