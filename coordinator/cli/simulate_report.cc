#include "coordinator/cli/simulate_report.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/cli/table.h"

namespace tessera::cli {
namespace {

using nlohmann::json;

json EvaluationJson(const ModelEvaluation& evaluation, const std::vector<SiteSummary>& sites) {
  json out = MetricsJson(evaluation.pooled);
  json per_site = json::object();
  for (size_t i = 0; i < sites.size() && i < evaluation.sites.size(); ++i) {
    per_site[sites[i].site] = MetricsJson(evaluation.sites[i]);
  }
  out["per_site"] = per_site;
  return out;
}

std::optional<double> Median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::optional<double> MedianLocalAuc(const SimulationResult& result) {
  std::vector<double> aucs;
  for (const ModelEvaluation& local : result.local) {
    if (local.pooled.auc.has_value()) aucs.push_back(*local.pooled.auc);
  }
  return Median(aucs);
}

std::string Auc(const Metrics& metrics) {
  return metrics.auc.has_value() ? absl::StrFormat("%.3f", *metrics.auc) : std::string("-");
}

std::string AucAndAccuracy(const Metrics& metrics) {
  if (metrics.examples == 0) return "-";
  return absl::StrFormat("%s / %.3f", Auc(metrics), metrics.accuracy);
}


std::string PrivacyText(const SimulationOptions& options) {
  if (options.privacy == "none") return "no differential privacy";
  return absl::StrFormat("%s-level differential privacy (epsilon %g per site, delta %g)",
                         options.privacy, options.epsilon.value_or(kDefaultEpsilon),
                         options.delta.value_or(kDefaultDelta));
}

}  // namespace

json SimulationJson(const SimulationResult& result) {
  const SimulationOptions& o = result.options;
  json privacy = {{"mode", o.privacy}};
  if (o.privacy != "none") {
    privacy["epsilon"] = o.epsilon.value_or(kDefaultEpsilon);
    privacy["delta"] = o.delta.value_or(kDefaultDelta);
    privacy["clip_norm"] = o.clip_norm;
  }
  json settings = {{"model", result.model_description},
                   {"rounds", o.rounds},
                   {"local_epochs", o.local_epochs},
                   {"optimizer", o.optimizer},
                   {"learning_rate", o.learning_rate},
                   {"batch_size", o.batch_size},
                   {"holdout_fraction", o.holdout},
                   {"label", o.label},
                   {"privacy", privacy},
                   {"secure_aggregation",
                    {{"threshold", result.plan.threshold},
                     {"min_sites", result.plan.min_sites},
                     {"max_sites", result.plan.max_sites}}},
                   {"dropout", o.dropout},
                   {"seed", o.seed}};
  json sites = json::array();
  for (const SiteSummary& s : result.sites) {
    sites.push_back({{"site", s.site},
                     {"file", s.file},
                     {"records", s.records},
                     {"training", s.training},
                     {"holdout", s.holdout}});
  }
  json rounds = json::array();
  for (const RoundResult& r : result.rounds) {
    json round = MetricsJson(r.evaluation.pooled);
    round["round"] = r.round;
    round["attempts"] = r.attempts;
    round["seconds"] = r.seconds;
    round["sites"] = r.included;
    round["dropped"] = r.dropped;
    rounds.push_back(std::move(round));
  }
  json out = {{"job_id", result.job_id},
              {"settings", settings},
              {"sites", sites},
              {"rounds", rounds},
              {"seconds", result.seconds}};
  if (result.statistics_seconds.has_value()) {
    out["statistics_round"] = {{"seconds", *result.statistics_seconds}};
  }
  out["final"] = result.rounds.empty()
                     ? json()
                     : EvaluationJson(result.rounds.back().evaluation, result.sites);
  json epsilon = json::object();
  for (size_t i = 0; i < result.sites.size(); ++i) {
    if (o.privacy != "none" && i < result.epsilon.size()) {
      epsilon[result.sites[i].site] = {{"epsilon", result.epsilon[i]},
                                       {"delta", o.delta.value_or(kDefaultDelta)}};
    } else {
      epsilon[result.sites[i].site] = {{"epsilon", json()}, {"delta", json()}};
    }
  }
  out["epsilon"] = epsilon;
  json dropouts = json::array();
  for (const DropoutEvent& d : result.dropouts) {
    dropouts.push_back({{"round", d.round},
                        {"attempt", d.attempt},
                        {"site", d.site},
                        {"stage", d.stage},
                        {"before_message", d.before_message}});
  }
  out["dropouts"] = dropouts;
  if (result.centralised.has_value()) {
    out["centralised"] = EvaluationJson(*result.centralised, result.sites);
  }
  if (result.centralised_dp.has_value()) {
    out["centralised_dp"] = EvaluationJson(*result.centralised_dp, result.sites);
    if (result.centralised_dp_noise.has_value()) {
      out["centralised_dp"]["noise_multiplier"] = *result.centralised_dp_noise;
    }
  }
  if (!result.local.empty()) {
    json local = json::object();
    for (size_t i = 0; i < result.sites.size() && i < result.local.size(); ++i) {
      local[result.sites[i].site] = EvaluationJson(result.local[i], result.sites);
    }
    out["local"] = local;
    std::optional<double> median = MedianLocalAuc(result);
    out["local_median_auc"] = median.has_value() ? json(*median) : json();
    std::vector<double> losses;
    for (const ModelEvaluation& site_model : result.local) losses.push_back(site_model.pooled.loss);
    out["local_median_loss"] = *Median(losses);
  }
  if (!result.report_dir.empty()) out["report"] = result.report_dir;
  return out;
}

std::string RoundLine(const RoundResult& round, int64_t rounds_total, size_t sites_total) {
  const Metrics& m = round.evaluation.pooled;
  std::string line = absl::StrFormat(
      "round %d/%d  loss %.4f  accuracy %.3f  AUC %s  %.2f s  %d/%d sites", round.round,
      rounds_total, m.loss, m.accuracy, Auc(m), round.seconds, round.included.size(), sites_total);
  if (round.attempts > 1) absl::StrAppend(&line, "  (", round.attempts, " attempts)");
  if (!round.dropped.empty())
    absl::StrAppend(&line, "  dropped: ", absl::StrJoin(round.dropped, ", "));
  return line;
}

std::string SimulationSummary(const SimulationResult& result, bool with_rounds) {
  const SimulationOptions& o = result.options;
  std::string out;
  absl::StrAppendFormat(&out,
                        "Federated %s on %d sites: %d rounds of %d local epoch%s, %s, secure "
                        "aggregation (threshold %d).\n",
                        result.model_description, result.sites.size(), o.rounds, o.local_epochs,
                        o.local_epochs == 1 ? "" : "s", PrivacyText(o), result.plan.threshold);
  if (with_rounds && !result.rounds.empty()) {
    out += "\n";
    for (const RoundResult& r : result.rounds) {
      absl::StrAppend(&out, "  ", RoundLine(r, o.rounds, result.sites.size()), "\n");
    }
  }
  if (!result.rounds.empty()) {
    const Metrics& final = result.rounds.back().evaluation.pooled;
    absl::StrAppendFormat(&out,
                          "\nFinal model on the hold-out records of all sites (%d records): "
                          "loss %.4f, accuracy %.3f, AUC %s\n",
                          final.examples, final.loss, final.accuracy, Auc(final));
  }
  if (result.centralised.has_value()) {
    out += "\nComparison on each site's hold-out records (AUC / accuracy):\n";
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> header = {"site", "hold-out", "federated", "centralised"};
    if (result.centralised_dp.has_value()) header.push_back("centralised+DP");
    header.push_back("site alone");
    rows.push_back(header);
    const ModelEvaluation* federated =
        result.rounds.empty() ? nullptr : &result.rounds.back().evaluation;
    for (size_t i = 0; i < result.sites.size(); ++i) {
      std::vector<std::string> row = {result.sites[i].site, absl::StrCat(result.sites[i].holdout)};
      row.push_back(federated != nullptr && i < federated->sites.size()
                        ? AucAndAccuracy(federated->sites[i])
                        : "-");
      row.push_back(i < result.centralised->sites.size()
                        ? AucAndAccuracy(result.centralised->sites[i])
                        : "-");
      if (result.centralised_dp.has_value()) {
        row.push_back(i < result.centralised_dp->sites.size()
                          ? AucAndAccuracy(result.centralised_dp->sites[i])
                          : "-");
      }
      row.push_back(i < result.local.size() && i < result.local[i].sites.size()
                        ? AucAndAccuracy(result.local[i].sites[i])
                        : "-");
      rows.push_back(std::move(row));
    }
    std::vector<std::string> all = {
        "all sites", federated != nullptr ? absl::StrCat(federated->pooled.examples) : "-"};
    all.push_back(federated != nullptr ? AucAndAccuracy(federated->pooled) : "-");
    all.push_back(AucAndAccuracy(result.centralised->pooled));
    if (result.centralised_dp.has_value()) {
      all.push_back(AucAndAccuracy(result.centralised_dp->pooled));
    }
    std::optional<double> median = MedianLocalAuc(result);
    all.push_back(median.has_value() ? absl::StrFormat("%.3f (median)", *median) : "-");
    rows.push_back(std::move(all));
    out += FormatTable(rows, "  ");
    out +=
        "  \"site alone\": each site's own model on its own hold-out records; on all sites, the "
        "median AUC of those models.\n";
  }
  if (o.privacy != "none" && !result.epsilon.empty()) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < result.sites.size() && i < result.epsilon.size(); ++i) {
      parts.push_back(absl::StrFormat("%s %.3g", result.sites[i].site, result.epsilon[i]));
    }
    absl::StrAppendFormat(
        &out, "\nPrivacy spent, from each site's own ledger (epsilon at delta %g): %s\n",
        o.delta.value_or(kDefaultDelta), absl::StrJoin(parts, ", "));
  } else if (o.privacy == "none") {
    out +=
        "\nNo differential privacy: the model is not protected against revealing individual "
        "records.\n";
  }
  if (o.dropout > 0 || !result.dropouts.empty()) {
    std::vector<std::string> parts;
    for (const DropoutEvent& d : result.dropouts) {
      parts.push_back(absl::StrCat(d.site, " in round ", d.round, " (", d.stage,
                                   d.before_message ? "" : ", after sending it", ")"));
    }
    absl::StrAppend(&out, "\nDropouts (agent killed and restarted): ",
                    parts.empty() ? std::string("none drawn") : absl::StrJoin(parts, ", "), "\n");
  }
  if (!result.report_dir.empty()) {
    absl::StrAppend(&out, "\nReport written to ", result.report_dir,
                    " (summary.txt, result.json, model.pt, standardization.json, job.toml, logs/)\n",
                    "Governance board's report: ",
                    (std::filesystem::path(result.report_dir) / "governance-report.html").string(),
                    " (and governance-report.json)\n");
  }
  return out;
}

absl::Status WriteSimulationReport(const std::string& dir, const SimulationResult& result) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("--report ", dir, ": cannot create the folder: ", error.message()));
  }
  const std::filesystem::path root(dir);
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically((root / "result.json").string(),
                                              SimulationJson(result).dump(2) + "\n", 0644));
  TESSERA_RETURN_IF_ERROR(
      WriteFileAtomically((root / "summary.txt").string(), SimulationSummary(result, true), 0644));
  return absl::OkStatus();
}

}  // namespace tessera::cli
