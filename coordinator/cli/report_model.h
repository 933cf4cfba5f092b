// The governance board's report (`tessera budget report`): what the
// coordinator holds about privacy spend — budgets, jobs with their rounds
// and participants, the central ledger and the sites' signed receipts —
// put together into one model, and written as JSON, CSV or one
// self-contained HTML page (report_html.h). The JSON is exactly the model;
// the CSV has one row per trust per round attempt; the HTML shows the same
// numbers, each in an element with a data-field attribute (a JSON pointer
// into the JSON) and a data-value attribute (the exact number).
//
// What is computed here, not taken from the coordinator:
//   * each trust's ε after each round: the central ledger's events for that
//     trust and dataset composed in time order with the RDP accountant
//     (agent::EpsilonOf) at the trust's budget δ (kDefaultReportDelta
//     without a budget) — the same rule as `tessera budget show`;
//   * each stored receipt's verdict, checked against the federation CA
//     (governance::ReceiptVerifier) at the time it was received;
//   * "missing": an included participant of a completed training round
//     with no stored receipt. Every training round carries a receipt,
//     whatever its privacy mode (mode "none" receipts say so); the
//     statistics round (round 0) has none, and dropped, refused or
//     excluded participants and aborted attempts need none.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tessera.pb.h"

namespace tessera::cli {

// δ at which a trust without a budget is reported (coordinator/budgets.h).
inline constexpr double kReportDefaultDelta = 1e-5;

// Everything the report is made from, as fetched from the Admin service.
struct ReportInputs {
  std::string job_filter;                                 // "" = every job
  std::vector<tessera::v1::BudgetStatus> budgets;         // ListBudgets("")
  std::vector<tessera::v1::GetJobResponse> jobs;          // GetJob of each job reported
  std::vector<tessera::v1::CentralLedgerEntry> ledger;    // every job (spend spans jobs)
  std::vector<tessera::v1::StoredReceipt> receipts;       // of the jobs reported
  std::string ca_certificate_pem;                         // the federation CA
  // The audit chain's check, as done by the caller: "ok", "failed" or
  // "not checked", and one sentence.
  std::string audit_status = "not checked";
  std::string audit_detail;
  absl::Time generated_at;
};

// One point of a trust's spend: after the ledger entry of (job, round).
struct SpendPoint {
  int64_t time_unix_ms = 0;  // when the coordinator recorded the entry
  std::string job_id;
  int64_t round = 0;
  double epsilon_after = 0;  // every event of this trust so far, at the trust's δ
  bool estimated = true;     // false: this entry had no estimate (spend is a lower bound)
};

struct TrustReport {
  std::string site_id;
  std::string dataset;
  bool budget_set = false;
  double budget_epsilon = 0;  // when budget_set
  double delta = kReportDefaultDelta;
  double spent = 0;           // the last point's epsilon_after (0 without entries)
  bool spend_complete = true;
  std::vector<SpendPoint> points;  // in time order
};

// A receipt as stored, with its verdict.
struct ReceiptReport {
  std::string job_id;  // as filed
  int64_t round = 0;
  int64_t attempt = 0;
  std::string site_id;
  int64_t received_unix_ms = 0;
  // governance::ReceiptProblemName: "valid", "malformed",
  // "untrusted-certificate", "forged", "wrong-signer", "misfiled".
  std::string status;
  std::string detail;           // what is wrong; empty when valid
  bool matched = false;         // belongs to a participant row of the report
  std::optional<double> site_epsilon_after;  // the site's own figure, valid receipts only
};

// One trust in one round attempt.
struct RoundRow {
  int64_t time_unix_ms = 0;  // when the attempt finished
  std::string job_id;
  int64_t round = 0;
  int64_t attempt = 0;
  std::string outcome;  // "completed" or "aborted"
  std::string site_id;
  std::string status;   // "included", "dropped", "refused", "excluded"
  std::string detail;
  // From the central ledger entry (completed attempts with the site
  // included): "poisson-gaussian", "skellam", "none" (privacy mode none),
  // "not estimated" (no estimate) or "" (no entry).
  std::string mechanism;
  double noise_multiplier = 0;  // Gaussian z; Skellam: sqrt(variance) / L2 sensitivity
  double clip_norm = 0;         // the job's privacy.clip_norm
  double sampling_rate = 0;
  int64_t steps = 0;
  std::optional<double> epsilon_after;  // the trust's spend after this round (all jobs)
  std::optional<double> budget;         // the trust's budget ε, if set
  double delta = kReportDefaultDelta;
  // A ReceiptReport status, "missing" (expected and absent) or
  // "not required".
  std::string receipt_status;
  std::string receipt_detail;
};

struct ApprovalReport {
  std::string job_id;
  std::string name;
  std::string privacy_mode;
  std::string state;
  std::string decided_by;  // empty: not decided
  int64_t decided_unix_ms = 0;
  bool approved = false;
  std::string reason;
  std::string spec_sha256;
};

struct Report {
  int64_t generated_unix_ms = 0;
  std::string job_filter;
  std::vector<TrustReport> trusts;      // ordered by site, dataset
  std::vector<RoundRow> rows;           // by finish time, then job, round, attempt, site
  std::vector<ReceiptReport> receipts;  // as stored (job, round, attempt, site)
  std::vector<ApprovalReport> approvals;
  std::string audit_status;
  std::string audit_detail;
  // Counts for the summary: receipts not valid (forged, misfiled, ...),
  // and participant rows whose receipt is missing.
  int64_t receipts_valid = 0;
  int64_t receipts_failed = 0;
  int64_t receipts_missing = 0;
};

// Builds the report. INVALID_ARGUMENT when the CA certificate does not
// parse (name the --ca file) or a ledger entry does not parse (naming the
// job, round and site); the accountant's errors otherwise. Bad receipts are
// verdicts in the report, never errors.
absl::StatusOr<Report> BuildReport(const ReportInputs& inputs);

// The report as JSON (2-space indented). Field names are those of the
// structs above; optional numbers are null when absent.
std::string ReportToJson(const Report& report);

// One row per trust per round attempt, with a header: time (UTC,
// RFC 3339), job, round, attempt, trust, status, mechanism, noise
// multiplier, clip, sampling rate, steps, epsilon after, budget, receipt
// status. Fields are quoted as RFC 4180 requires.
std::string ReportToCsv(const Report& report);

}  // namespace tessera::cli
