#include "coordinator/budgets.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tessera::coordinator {
namespace {

absl::Status Append(privacy::PrivacyLedger& into, const privacy::PrivacyLedger& events) {
  for (const privacy::LedgerEntry& entry : events.entries()) {
    TESSERA_RETURN_IF_ERROR(into.Add(entry.event, entry.count));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<SpendSummary>> SummarizeSpend(const std::vector<BudgetRecord>& budgets,
                                                         const std::vector<LedgerRecord>& ledger,
                                                         const std::string& site_id) {
  std::map<std::pair<std::string, std::string>, SpendSummary> summaries;
  auto summary_of = [&](const std::string& site, const std::string& dataset) -> SpendSummary& {
    SpendSummary& summary = summaries[{site, dataset}];
    summary.site_id = site;
    summary.dataset = dataset;
    return summary;
  };
  for (const BudgetRecord& budget : budgets) {
    if (!site_id.empty() && budget.site_id != site_id) continue;
    SpendSummary& summary = summary_of(budget.site_id, budget.dataset);
    summary.budget = budget;
    summary.delta = budget.delta;
  }
  // Events per (site, dataset) and per job.
  std::map<std::pair<std::string, std::string>, std::map<std::string, privacy::PrivacyLedger>>
      by_job;
  for (const LedgerRecord& row : ledger) {
    if (!site_id.empty() && row.site_id != site_id) continue;
    SpendSummary& summary = summary_of(row.site_id, row.dataset);
    const nlohmann::json entry = nlohmann::json::parse(row.event_json, nullptr, false);
    if (entry.is_discarded() || !entry.is_object() || !entry.contains("events")) {
      return absl::InvalidArgumentError(absl::StrCat("the central ledger entry of site `",
                                                     row.site_id, "` for job `", row.job_id,
                                                     "` round ", row.round, " does not parse"));
    }
    auto job = std::find_if(summary.jobs.begin(), summary.jobs.end(),
                            [&](const JobSpendSummary& j) { return j.job_id == row.job_id; });
    if (job == summary.jobs.end()) {
      summary.jobs.push_back({row.job_id, 0, 0});
      job = summary.jobs.end() - 1;
    }
    ++job->rounds;
    if (entry["events"].is_null()) {
      summary.complete = false;
      continue;
    }
    TESSERA_ASSIGN_OR_RETURN(privacy::PrivacyLedger events,
                             agent::EventsFromJson(entry["events"].dump()));
    TESSERA_RETURN_IF_ERROR(Append(summary.events, events));
    TESSERA_RETURN_IF_ERROR(Append(by_job[{row.site_id, row.dataset}][row.job_id], events));
  }
  std::vector<SpendSummary> out;
  for (auto& [key, summary] : summaries) {
    TESSERA_ASSIGN_OR_RETURN(summary.spent, agent::EpsilonOf(summary.events, summary.delta));
    for (JobSpendSummary& job : summary.jobs) {
      TESSERA_ASSIGN_OR_RETURN(job.epsilon,
                               agent::EpsilonOf(by_job[key][job.job_id], summary.delta));
    }
    out.push_back(std::move(summary));
  }
  return out;
}

absl::StatusOr<BudgetVerdict> CheckBudget(const SpendSummary& spend,
                                          const privacy::PrivacyLedger& round) {
  BudgetVerdict verdict;
  verdict.before = spend.spent;
  verdict.after = spend.spent;
  if (!spend.budget.has_value() || round.empty()) return verdict;
  const BudgetRecord& budget = *spend.budget;
  if (!spend.complete) {
    verdict.allowed = false;
    verdict.reason = absl::StrFormat(
        "%s: the budget of dataset `%s` (epsilon %g at delta %g) cannot be checked: the central "
        "ledger has rounds whose spend could not be estimated",
        spend.site_id, spend.dataset, budget.epsilon, budget.delta);
    return verdict;
  }
  privacy::PrivacyLedger after = spend.events;
  TESSERA_RETURN_IF_ERROR(Append(after, round));
  TESSERA_ASSIGN_OR_RETURN(verdict.after, agent::EpsilonOf(after, budget.delta));
  if (verdict.after > budget.epsilon) {
    verdict.allowed = false;
    verdict.reason = absl::StrFormat(
        "%s: this round would take dataset `%s` to epsilon %.3g at delta %g, past its budget of "
        "%.3g (spent so far %.3g)",
        spend.site_id, spend.dataset, verdict.after, budget.delta, budget.epsilon, spend.spent);
  }
  return verdict;
}

}  // namespace tessera::coordinator
