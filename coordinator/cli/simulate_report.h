// What `tessera simulate` found, and how it is shown: one JSON object
// (--json, and result.json under --report) and a short summary for people
// (the end of the normal output, and summary.txt under --report).
//
// Report folder (--report DIR), written when the simulation has finished:
//   result.json          SimulationJson
//   summary.txt          SimulationSummary
//   model.pt             the federated model after the last round, as
//                        `tessera model export` writes it
//   standardization.json the means and standard deviations its numeric
//                        inputs must be standardised with (the export does
//                        not carry them)
//   job.toml             the job file that was submitted
//   logs/                the coordinator's and agents' logs
//   governance-report.html, governance-report.json
//                        the board's report of the job (`tessera budget
//                        report`), made from the coordinator before it stops
// WriteSimulationReport writes the first two; the simulation the rest.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/cli/simulate_data.h"
#include "coordinator/cli/simulate_dropouts.h"
#include "coordinator/cli/simulate_evaluation.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {

struct SiteSummary {
  std::string site;
  std::string file;
  int64_t records = 0;   // data rows in the file
  int64_t training = 0;  // usable records in the training part
  int64_t holdout = 0;   // usable records in the hold-out part
};

struct RoundResult {
  int64_t round = 0;
  int64_t attempts = 1;
  double seconds = 0;                 // from the first attempt's start to the round's commit
  std::vector<std::string> included;  // sites whose update is in the sum
  std::vector<std::string> dropped;   // selected for the completed attempt but not in the sum
  ModelEvaluation evaluation;         // of the global model after the round
};

struct SimulationResult {
  SimulationOptions options;
  SecAggPlan plan;
  std::string model_description;  // e.g. "built-in MLP 12-16-1"
  std::string job_id;
  std::vector<SiteSummary> sites;
  std::optional<double> statistics_seconds;  // round 0, when the job has numeric features
  std::vector<RoundResult> rounds;
  std::vector<DropoutEvent> dropouts;
  // Per site, in site order: the epsilon its own ledger shows spent, at the
  // job's delta; empty without differential privacy.
  std::vector<double> epsilon;
  // --compare: the baselines (see simulate_evaluation.h).
  std::optional<ModelEvaluation> centralised;  // pooled training records, no DP
  std::optional<ModelEvaluation>
      centralised_dp;                          // the same with record-level DP at the job's epsilon
  std::optional<double> centralised_dp_noise;  // its noise multiplier
  std::vector<ModelEvaluation> local;          // site i's model, trained on site i alone
  double seconds = 0;                          // the whole simulation
  std::string report_dir;                      // where the report went, if anywhere
};

// The result as one JSON object:
//   "job_id", "settings" {...}, "sites" [{"site","file","records","training","holdout"}],
//   "statistics_round" {"seconds"} (when there was one),
//   "rounds" [{"round","attempts","seconds","sites" [...],"dropped" [...],
//              "loss","accuracy","auc","examples"}],
//   "final" {"loss","accuracy","auc","examples","per_site" {SITE: {...}}},
//   "epsilon" {SITE: {"epsilon","delta"}} (both null without DP),
//   "dropouts" [{"round","attempt","site","stage","before_message"}],
//   with --compare "centralised" and "local" (and "centralised_dp" under
//   record-level DP) with the metrics of "final": "local" {SITE: {...}} is
//   site SITE's own model, its "per_site" on every site's hold-out, plus
//   "local_median_auc" and "local_median_loss" (the medians over sites of
//   their model's pooled AUC and loss),
//   and "seconds". Metrics of a round are those of the model after it, on
//   the pooled hold-out records of all sites.
nlohmann::json SimulationJson(const SimulationResult& result);

// For people: the settings in one line, the table of rounds (unless
// `with_rounds` is false: they were shown live), the comparison table
// (AUC and accuracy per site and pooled) under --compare, each site's
// epsilon, the dropouts, and where the report is.
std::string SimulationSummary(const SimulationResult& result, bool with_rounds);

// One line per round as shown live: "round 3/10  loss 0.4123  accuracy
// 0.812  AUC 0.874  1.2 s  5/5 sites" (+ "  (2 attempts)", "  dropped: x").
std::string RoundLine(const RoundResult& round, int64_t rounds_total, size_t sites_total);

// Writes result.json and summary.txt into `dir` (created if needed). The
// model, standardisation and logs are added by the command. Errors those of
// WriteFileAtomically, naming the file.
absl::Status WriteSimulationReport(const std::string& dir, const SimulationResult& result);

}  // namespace tessera::cli
