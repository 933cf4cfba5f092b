#include "coordinator/cli/report_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "common/status.h"
#include "governance/receipt.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {
namespace {

using Key = std::tuple<std::string, int64_t, int64_t, std::string>;  // job, round, attempt, site

// One parsed central ledger entry.
struct LedgerEvents {
  std::string mode;
  std::optional<privacy::PrivacyLedger> events;  // nullopt: no estimate
};

absl::StatusOr<LedgerEvents> ParseLedgerEntry(const tessera::v1::CentralLedgerEntry& row) {
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat("the central ledger entry of site `", row.site_id(), "` for job `",
                   row.job_id(), "` round ", row.round(), " does not parse"));
  const nlohmann::json entry = nlohmann::json::parse(row.event_json(), nullptr, false);
  if (entry.is_discarded() || !entry.is_object() || !entry.contains("events")) return bad;
  LedgerEvents out;
  if (entry.contains("mode") && entry["mode"].is_string()) out.mode = entry["mode"];
  if (entry["events"].is_null()) return out;
  auto events = agent::EventsFromJson(entry["events"].dump());
  if (!events.ok()) return bad;
  out.events = *std::move(events);
  return out;
}

// Mechanism and parameters of one round's events (the first event; a
// round's events are one mechanism).
void DescribeMechanism(const LedgerEvents& parsed, RoundRow& row) {
  if (!parsed.events.has_value()) {
    row.mechanism = "not estimated";
    return;
  }
  if (parsed.events->empty()) {
    row.mechanism = "none";
    return;
  }
  const privacy::LedgerEntry& first = parsed.events->entries().front();
  row.steps = first.count;
  if (const auto* gaussian = std::get_if<privacy::PoissonGaussianEvent>(&first.event)) {
    row.mechanism = "poisson-gaussian";
    row.noise_multiplier = gaussian->noise_multiplier;
    row.sampling_rate = gaussian->sampling_rate;
  } else {
    const auto& skellam = std::get<privacy::SkellamEvent>(first.event);
    row.mechanism = "skellam";
    row.noise_multiplier =
        skellam.l2_sensitivity > 0 ? std::sqrt(skellam.variance) / skellam.l2_sensitivity : 0;
    row.sampling_rate = 1;
  }
}

double ClipNormOf(const std::string& spec_json) {
  const nlohmann::json spec = nlohmann::json::parse(spec_json, nullptr, false);
  if (spec.is_discarded() || !spec.is_object() || !spec.contains("privacy") ||
      !spec["privacy"].is_object() || !spec["privacy"].contains("clip_norm") ||
      !spec["privacy"]["clip_norm"].is_number()) {
    return 0;
  }
  return spec["privacy"]["clip_norm"].get<double>();
}

std::string Rfc3339(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

nlohmann::json Optional(const std::optional<double>& value) {
  return value.has_value() ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::string CsvField(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  return absl::StrCat("\"", absl::StrReplaceAll(field, {{"\"", "\"\""}}), "\"");
}

std::string CsvNumber(double value) { return absl::StrFormat("%.17g", value); }

}  // namespace

absl::StatusOr<Report> BuildReport(const ReportInputs& inputs) {
  Report report;
  report.generated_unix_ms = absl::ToUnixMillis(inputs.generated_at);
  report.job_filter = inputs.job_filter;
  report.audit_status = inputs.audit_status;
  report.audit_detail = inputs.audit_detail;

  auto verifier = governance::ReceiptVerifier::Create(inputs.ca_certificate_pem);
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the federation CA certificate (--ca) does not parse: ", verifier.status().message()));
  }

  // Trusts: every (site, dataset) with a budget or a ledger entry.
  std::map<std::pair<std::string, std::string>, TrustReport> trusts;
  for (const tessera::v1::BudgetStatus& status : inputs.budgets) {
    TrustReport& trust = trusts[{status.budget().site_id(), status.budget().dataset()}];
    trust.site_id = status.budget().site_id();
    trust.dataset = status.budget().dataset();
    trust.budget_set = status.budget_set();
    trust.budget_epsilon = status.budget_set() ? status.budget().epsilon() : 0;
    if (status.budget_set() && status.budget().delta() > 0) trust.delta = status.budget().delta();
  }

  // Each trust's spend in time order (ties: job, round as the store orders).
  std::vector<const tessera::v1::CentralLedgerEntry*> ledger;
  for (const auto& row : inputs.ledger) ledger.push_back(&row);
  std::stable_sort(ledger.begin(), ledger.end(), [](const auto* a, const auto* b) {
    return a->recorded_unix_ms() < b->recorded_unix_ms();
  });
  std::map<std::pair<std::string, std::string>, privacy::PrivacyLedger> composed;
  // (job, round, site) → the entry's events and the trust's spend after it.
  std::map<std::tuple<std::string, int64_t, std::string>, std::pair<LedgerEvents, SpendPoint>>
      by_round;
  for (const tessera::v1::CentralLedgerEntry* row : ledger) {
    const std::pair<std::string, std::string> key{row->site_id(), row->dataset()};
    TrustReport& trust = trusts[key];
    trust.site_id = row->site_id();
    trust.dataset = row->dataset();
    TESSERA_ASSIGN_OR_RETURN(LedgerEvents parsed, ParseLedgerEntry(*row));
    privacy::PrivacyLedger& events = composed[key];
    if (parsed.events.has_value()) {
      for (const privacy::LedgerEntry& entry : parsed.events->entries()) {
        TESSERA_RETURN_IF_ERROR(events.Add(entry.event, entry.count));
      }
    } else {
      trust.spend_complete = false;
    }
    SpendPoint point;
    point.time_unix_ms = row->recorded_unix_ms();
    point.job_id = row->job_id();
    point.round = row->round();
    point.estimated = parsed.events.has_value();
    TESSERA_ASSIGN_OR_RETURN(point.epsilon_after, agent::EpsilonOf(events, trust.delta));
    trust.spent = point.epsilon_after;
    trust.points.push_back(point);
    by_round[{row->job_id(), row->round(), row->site_id()}] = {std::move(parsed), point};
  }
  for (auto& [key, trust] : trusts) report.trusts.push_back(std::move(trust));
  auto trust_of = [&](const std::string& site,
                      const std::string& dataset) -> const TrustReport* {
    for (const TrustReport& trust : report.trusts) {
      if (trust.site_id == site && trust.dataset == dataset) return &trust;
    }
    return nullptr;
  };

  // Receipts, each verified against the CA as filed.
  std::map<Key, size_t> receipt_index;
  for (const tessera::v1::StoredReceipt& stored : inputs.receipts) {
    ReceiptReport out;
    out.job_id = stored.job_id();
    out.round = stored.round();
    out.attempt = stored.attempt();
    out.site_id = stored.site_id();
    out.received_unix_ms = stored.received_unix_ms();
    const governance::ReceiptVerdict verdict = (*verifier)->Verify(
        stored.receipt(), {out.job_id, out.round, out.attempt, out.site_id},
        absl::FromUnixMillis(out.received_unix_ms));
    out.status = std::string(governance::ReceiptProblemName(verdict.problem));
    out.detail = verdict.detail;
    if (verdict.receipt.has_value()) out.site_epsilon_after = verdict.receipt->epsilon_after();
    if (verdict.valid()) {
      ++report.receipts_valid;
    } else {
      ++report.receipts_failed;
    }
    receipt_index[{out.job_id, out.round, out.attempt, out.site_id}] = report.receipts.size();
    report.receipts.push_back(std::move(out));
  }

  // Rounds and participants of each job reported.
  for (const tessera::v1::GetJobResponse& job : inputs.jobs) {
    const std::string& job_id = job.summary().job_id();
    const double clip_norm = ClipNormOf(job.spec_json());
    const nlohmann::json spec = nlohmann::json::parse(job.spec_json(), nullptr, false);
    const std::string dataset =
        !spec.is_discarded() && spec.is_object() && spec.contains("dataset") &&
                spec["dataset"].is_string()
            ? spec["dataset"].get<std::string>()
            : std::string();
    ApprovalReport approval;
    approval.job_id = job_id;
    approval.name = job.summary().name();
    approval.privacy_mode = job.summary().privacy_mode();
    approval.state = job.summary().state();
    approval.decided_by = job.decided_by();
    approval.decided_unix_ms = job.decided_unix_ms();
    approval.approved = job.approved();
    approval.reason = job.decision_reason();
    approval.spec_sha256 = job.spec_sha256();
    report.approvals.push_back(std::move(approval));

    for (const tessera::v1::RoundSummary& round : job.rounds()) {
      if (round.round() == 0) continue;  // statistics: no model update, no spend, no receipt
      for (const tessera::v1::ParticipantStatus& participant : round.participants()) {
        RoundRow row;
        row.time_unix_ms = round.finished_unix_ms();
        row.job_id = job_id;
        row.round = round.round();
        row.attempt = round.attempt();
        row.outcome = round.outcome();
        row.site_id = participant.site_id();
        row.status = participant.status();
        row.detail = participant.detail();
        const bool counted = round.outcome() == "completed" && participant.status() == "included";
        if (counted) {
          auto entry = by_round.find({job_id, row.round, row.site_id});
          if (entry != by_round.end()) {
            DescribeMechanism(entry->second.first, row);
            row.clip_norm = clip_norm;
            row.epsilon_after = entry->second.second.epsilon_after;
          }
        }
        if (const TrustReport* trust = trust_of(row.site_id, dataset)) {
          row.delta = trust->delta;
          if (trust->budget_set) row.budget = trust->budget_epsilon;
        }
        auto receipt = receipt_index.find({job_id, row.round, row.attempt, row.site_id});
        if (receipt != receipt_index.end()) {
          ReceiptReport& stored = report.receipts[receipt->second];
          stored.matched = true;
          row.receipt_status = stored.status;
          row.receipt_detail = stored.detail;
        } else if (counted) {
          row.receipt_status = "missing";
          row.receipt_detail = absl::StrCat("no receipt from ", row.site_id, " for job ", job_id,
                                            " round ", row.round, " attempt ", row.attempt);
          ++report.receipts_missing;
        } else {
          row.receipt_status = "not required";
        }
        report.rows.push_back(std::move(row));
      }
    }
  }
  std::stable_sort(report.rows.begin(), report.rows.end(), [](const RoundRow& a, const RoundRow& b) {
    return std::tie(a.time_unix_ms, a.job_id, a.round, a.attempt, a.site_id) <
           std::tie(b.time_unix_ms, b.job_id, b.round, b.attempt, b.site_id);
  });
  return report;
}

std::string ReportToJson(const Report& report) {
  nlohmann::json trusts = nlohmann::json::array();
  for (const TrustReport& trust : report.trusts) {
    nlohmann::json points = nlohmann::json::array();
    for (const SpendPoint& point : trust.points) {
      points.push_back({{"time_unix_ms", point.time_unix_ms},
                        {"job_id", point.job_id},
                        {"round", point.round},
                        {"epsilon_after", point.epsilon_after},
                        {"estimated", point.estimated}});
    }
    trusts.push_back({{"site_id", trust.site_id},
                      {"dataset", trust.dataset},
                      {"budget_set", trust.budget_set},
                      {"budget_epsilon", trust.budget_set ? nlohmann::json(trust.budget_epsilon)
                                                          : nlohmann::json(nullptr)},
                      {"delta", trust.delta},
                      {"spent", trust.spent},
                      {"spend_complete", trust.spend_complete},
                      {"points", points}});
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const RoundRow& row : report.rows) {
    rows.push_back({{"time_unix_ms", row.time_unix_ms},
                    {"job_id", row.job_id},
                    {"round", row.round},
                    {"attempt", row.attempt},
                    {"outcome", row.outcome},
                    {"site_id", row.site_id},
                    {"status", row.status},
                    {"detail", row.detail},
                    {"mechanism", row.mechanism},
                    {"noise_multiplier", row.noise_multiplier},
                    {"clip_norm", row.clip_norm},
                    {"sampling_rate", row.sampling_rate},
                    {"steps", row.steps},
                    {"epsilon_after", Optional(row.epsilon_after)},
                    {"budget", Optional(row.budget)},
                    {"delta", row.delta},
                    {"receipt_status", row.receipt_status},
                    {"receipt_detail", row.receipt_detail}});
  }
  nlohmann::json receipts = nlohmann::json::array();
  for (const ReceiptReport& receipt : report.receipts) {
    receipts.push_back({{"job_id", receipt.job_id},
                        {"round", receipt.round},
                        {"attempt", receipt.attempt},
                        {"site_id", receipt.site_id},
                        {"received_unix_ms", receipt.received_unix_ms},
                        {"status", receipt.status},
                        {"detail", receipt.detail},
                        {"matched", receipt.matched},
                        {"site_epsilon_after", Optional(receipt.site_epsilon_after)}});
  }
  nlohmann::json approvals = nlohmann::json::array();
  for (const ApprovalReport& approval : report.approvals) {
    approvals.push_back({{"job_id", approval.job_id},
                         {"name", approval.name},
                         {"privacy_mode", approval.privacy_mode},
                         {"state", approval.state},
                         {"decided_by", approval.decided_by},
                         {"decided_unix_ms", approval.decided_unix_ms},
                         {"approved", approval.approved},
                         {"reason", approval.reason},
                         {"spec_sha256", approval.spec_sha256}});
  }
  const nlohmann::json out = {
      {"generated_unix_ms", report.generated_unix_ms},
      {"job_filter", report.job_filter},
      {"trusts", trusts},
      {"rows", rows},
      {"receipts", receipts},
      {"approvals", approvals},
      {"audit", {{"status", report.audit_status}, {"detail", report.audit_detail}}},
      {"summary",
       {{"receipts_valid", report.receipts_valid},
        {"receipts_failed", report.receipts_failed},
        {"receipts_missing", report.receipts_missing}}}};
  return out.dump(2) + "\n";
}

std::string ReportToCsv(const Report& report) {
  std::string csv =
      "time,job,round,attempt,trust,status,mechanism,noise_multiplier,clip_norm,sampling_rate,"
      "steps,epsilon_after,budget,receipt_status\r\n";
  for (const RoundRow& row : report.rows) {
    absl::StrAppend(&csv, Rfc3339(row.time_unix_ms), ",", CsvField(row.job_id), ",", row.round,
                    ",", row.attempt, ",", CsvField(row.site_id), ",", CsvField(row.status), ",",
                    CsvField(row.mechanism), ",", CsvNumber(row.noise_multiplier), ",",
                    CsvNumber(row.clip_norm), ",", CsvNumber(row.sampling_rate), ",", row.steps,
                    ",", row.epsilon_after ? CsvNumber(*row.epsilon_after) : "", ",",
                    row.budget ? CsvNumber(*row.budget) : "", ",", CsvField(row.receipt_status),
                    "\r\n");
  }
  return csv;
}

}  // namespace tessera::cli
