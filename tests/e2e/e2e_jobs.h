// What the end-to-end tests that drive a job through the `tessera` CLI have
// in common: a federation with every agent connected, the small job that
// fits the harness's default cohort (columns age and outcome), submitting
// it, polling it until it gets somewhere, and reading the CLI's --json
// output. Failures are reported with gtest's EXPECT/ADD_FAILURE, so the
// helpers are for test bodies and fixtures only.
//
// Thread-safety: use from the test's thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/local_federation.h"
#include "tests/testing/subprocess.h"

namespace tessera::testing {

// [model] tables for DefaultCohortJob: a logistic regression, or the
// built-in MLP with one hidden layer of 4 (1-4-1, 13 parameters on the
// default cohort's one feature).
inline constexpr char kLogisticModel[] = "kind = \"logistic\"\n";
inline constexpr char kMlpModel[] = "kind = \"mlp\"\nhidden = [4]\n";
// [privacy] tables for DefaultCohortJob: none, or record-level DP at a
// target of epsilon 2 over the job at delta 1e-5.
inline constexpr char kNoPrivacy[] = "mode = \"none\"\n";
inline constexpr char kRecordPrivacy[] =
    "mode = \"record\"\nepsilon = 2.0\ndelta = 1e-5\nclip_norm = 1.0\n";

// A job file on the `cohort` dataset of the harness's default rows: split
// seed 3, learning rate 0.1, batch size 16, two rounds of exactly three
// sites with a 30 s stage timeout and two attempts, secure-aggregation
// threshold 2. `model` and `privacy` are the bodies of its [model] and
// [privacy] tables (the constants above).
std::string DefaultCohortJob(const std::string& name, const std::string& model,
                             const std::string& privacy);

// Starts a federation of `sites`, an agent for each (with its entry of
// `setups`, if any), and waits up to 30 s for all of them to connect.
absl::StatusOr<std::unique_ptr<LocalFederation>> StartFederationWithAgents(
    const std::vector<std::string>& sites,
    const std::map<std::string, LocalFederation::AgentSetup>& setups = {});

// Runs `tessera ARGS...` as `role`; a failure to run it at all is a test
// failure, and then the result is empty.
RunResult RunCli(LocalFederation& federation, const std::vector<std::string>& args,
                 const std::string& role, absl::Duration timeout);

// Writes `toml` to dir()/job.toml, submits it as ml-lead (`job submit`, 60 s)
// and returns the job id it printed; "" (and a test failure) when the
// submission failed or printed no id.
std::string SubmitJob(LocalFederation& federation, const std::string& toml);

// Polls `job show ID --json` as ml-lead every 300 ms until `ready` holds and
// returns that JSON; after `timeout`, a test failure (with the coordinator's
// log) and the last JSON seen.
nlohmann::json WaitForJob(LocalFederation& federation, const std::string& job_id,
                          const std::function<bool(const nlohmann::json&)>& ready,
                          absl::Duration timeout);

// `text` parsed as JSON; a discarded value (and a test failure) if it is not.
nlohmann::json ParseJson(const std::string& text);
// What a command printed, parsed as JSON (ParseJson of its output).
nlohmann::json JsonOf(const RunResult& result);

}  // namespace tessera::testing
