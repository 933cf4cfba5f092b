// Governance's privacy budgets, held against the coordinator's central
// ledger.
//
// A budget caps what one trust's dataset may release over every job: ε at
// a stated δ. What has been spent is composed from the central ledger's
// events (coordinator/store.h LedgerRecord::event_json: the events of each
// round a site was included in) with the RDP accountant, at the budget's δ.
// Record-level entries are the coordinator's estimates from the site's
// record-count bucket; an entry without an estimate makes the spend
// incomplete, which is reported and counts as "cannot tell" — never as
// zero. The agent's own policy and ledger are the second, independent
// guard, with exact figures.
//
// Thread-safety: pure functions over values.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/store.h"
#include "privacy/dp_event.h"

namespace tessera::coordinator {

// δ at which spend is reported for a trust without a budget.
inline constexpr double kDefaultReportDelta = 1e-5;

struct JobSpendSummary {
  std::string job_id;
  double epsilon = 0;  // this job alone, at the summary's delta
  int64_t rounds = 0;  // rounds the site was included in
};

struct SpendSummary {
  std::string site_id;
  std::string dataset;
  std::optional<BudgetRecord> budget;
  double delta = kDefaultReportDelta;  // the budget's, or kDefaultReportDelta
  double spent = 0;                    // every job composed, at delta
  // False when some ledger entry carries no estimate (the spend is then at
  // least `spent`, and a budget check refuses).
  bool complete = true;
  std::vector<JobSpendSummary> jobs;  // in order of first appearance in the ledger
  privacy::PrivacyLedger events;      // every event of every job
};

// One summary per (site, dataset) that has a budget or any ledger entry,
// ordered by site then dataset; only `site_id` when it is not empty.
// INVALID_ARGUMENT naming the job and round when a ledger entry does not
// parse.
absl::StatusOr<std::vector<SpendSummary>> SummarizeSpend(const std::vector<BudgetRecord>& budgets,
                                                         const std::vector<LedgerRecord>& ledger,
                                                         const std::string& site_id);

struct BudgetVerdict {
  bool allowed = true;
  std::string reason;  // when refused: the budget, the spend and what the round would make it
  double before = 0;
  double after = 0;
};

// Whether `round` (one round's events for this site) fits what is left of
// `spend`'s budget. Always allowed without a budget, or for an empty
// `round` (privacy mode none, which governance approved explicitly).
absl::StatusOr<BudgetVerdict> CheckBudget(const SpendSummary& spend,
                                          const privacy::PrivacyLedger& round);

}  // namespace tessera::coordinator
