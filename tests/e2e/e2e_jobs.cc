#include "tests/e2e/e2e_jobs.h"

#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tessera::testing {

std::string DefaultCohortJob(const std::string& name, const std::string& model,
                             const std::string& privacy) {
  return absl::StrCat("[job]\nname = \"", name, "\"\ndataset = \"cohort\"\n[model]\n", model,
                      R"([schema]
label = "outcome"
[schema.columns.age]
type = "numeric"
[schema.columns.outcome]
type = "binary"
[split]
seed = 3
[training]
learning_rate = 0.1
batch_size = 16
[rounds]
count = 2
min_sites = 3
max_sites = 3
stage_timeout_seconds = 30
max_attempts = 2
[privacy]
)",
                      privacy, "[secure_aggregation]\nthreshold = 2\n");
}

absl::StatusOr<std::unique_ptr<LocalFederation>> StartFederationWithAgents(
    const std::vector<std::string>& sites,
    const std::map<std::string, LocalFederation::AgentSetup>& setups) {
  absl::StatusOr<std::unique_ptr<LocalFederation>> federation = LocalFederation::Start(sites);
  if (!federation.ok()) return federation.status();
  for (const std::string& site : sites) {
    if (auto setup = setups.find(site); setup != setups.end()) {
      (*federation)->SetAgentSetup(site, setup->second);
    }
    if (absl::Status started = (*federation)->StartAgent(site); !started.ok()) return started;
  }
  if (absl::Status connected = (*federation)->WaitForConnectedSites(sites.size(), absl::Seconds(30));
      !connected.ok()) {
    return connected;
  }
  return federation;
}

RunResult RunCli(LocalFederation& federation, const std::vector<std::string>& args,
                 const std::string& role, absl::Duration timeout) {
  absl::StatusOr<RunResult> result = federation.Cli(args, role, timeout);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : RunResult{};
}

std::string SubmitJob(LocalFederation& federation, const std::string& toml) {
  const std::string job_file = federation.dir() + "/job.toml";
  std::ofstream(job_file) << toml;
  RunResult submitted = RunCli(federation, {"job", "submit", job_file}, "ml-lead", absl::Seconds(60));
  EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
  if (submitted.exit_code != 0) return "";
  std::smatch match;
  if (!std::regex_search(submitted.output, match, std::regex("job-[0-9a-f]{12}"))) {
    ADD_FAILURE() << "no job id in: " << submitted.output;
    return "";
  }
  return match.str();
}

nlohmann::json WaitForJob(LocalFederation& federation, const std::string& job_id,
                          const std::function<bool(const nlohmann::json&)>& ready,
                          absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  nlohmann::json last;
  while (absl::Now() < deadline) {
    last = JsonOf(RunCli(federation, {"job", "show", job_id, "--json"}, "ml-lead",
                         absl::Seconds(60)));
    if (!last.is_discarded() && ready(last)) return last;
    absl::SleepFor(absl::Milliseconds(300));
  }
  ADD_FAILURE() << "job " << job_id << " never got there; last: " << last.dump(2) << "\n"
                << federation.CoordinatorOutput();
  return last;
}

nlohmann::json ParseJson(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << text;
  return parsed;
}

nlohmann::json JsonOf(const RunResult& result) { return ParseJson(result.output); }

}  // namespace tessera::testing
