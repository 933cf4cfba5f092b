// `tessera budget ...`: governance's privacy budgets per trust and dataset,
// and what has been spent against them.
#include <cmath>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/audit_commands.h"
#include "coordinator/cli/commands.h"
#include "coordinator/cli/report_html.h"
#include "coordinator/cli/report_model.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {
namespace {

struct BudgetOptions {
  std::string site;
  std::string dataset;
  double epsilon = -1;
  double delta = 1e-5;
  std::string reason;
  bool json = false;
  // `budget report`
  std::string job;
  std::string format;
  std::string out;
};

absl::Status RunSet(const ConnectionOptions& connection, const BudgetOptions& options) {
  if (!std::isfinite(options.epsilon) || options.epsilon < 0) {
    return absl::InvalidArgumentError("--epsilon must be a number >= 0");
  }
  if (!(options.delta > 0 && options.delta < 1)) {
    return absl::InvalidArgumentError("--delta must be between 0 and 1 (e.g. 1e-5)");
  }
  if (options.reason.empty()) {
    return absl::InvalidArgumentError(
        "--reason is required: say why (e.g. the board's decision and date); it is kept in the "
        "audit log");
  }
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::SetBudgetRequest request;
  tessera::v1::Budget& budget = *request.mutable_budget();
  budget.set_site_id(options.site);
  budget.set_dataset(options.dataset);
  budget.set_epsilon(options.epsilon);
  budget.set_delta(options.delta);
  budget.set_reason(options.reason);
  tessera::v1::SetBudgetResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().SetBudget(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  std::cout << absl::StrFormat("budget of %s / %s set to epsilon %g at delta %g by %s\n",
                               response.budget().site_id(), response.budget().dataset(),
                               response.budget().epsilon(), response.budget().delta(),
                               response.budget().set_by());
  return absl::OkStatus();
}

std::string Number(double value) { return absl::StrFormat("%.3g", value); }

absl::Status RunShow(const ConnectionOptions& connection, const BudgetOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::ListBudgetsRequest request;
  request.set_site_id(options.site);
  tessera::v1::ListBudgetsResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListBudgets(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);

  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : response.budgets()) {
      nlohmann::json jobs = nlohmann::json::array();
      for (const auto& job : b.jobs()) {
        jobs.push_back({{"job_id", job.job_id()}, {"epsilon", job.epsilon()}, {"rounds", job.rounds()}});
      }
      nlohmann::json entry = {{"site_id", b.budget().site_id()},
                              {"dataset", b.budget().dataset()},
                              {"delta", b.budget().delta()},
                              {"spent", b.spent()},
                              {"spend_complete", b.spend_complete()},
                              {"jobs", jobs}};
      if (b.budget_set()) {
        entry["budget"] = b.budget().epsilon();
        entry["remaining"] = b.remaining();
        entry["set_by"] = b.budget().set_by();
        entry["reason"] = b.budget().reason();
      } else {
        entry["budget"] = nullptr;
        entry["remaining"] = nullptr;
      }
      out.push_back(std::move(entry));
    }
    std::cout << nlohmann::json{{"budgets", out}}.dump(2) << "\n";
    return absl::OkStatus();
  }
  if (response.budgets().empty()) {
    std::cout << "no budgets are set and nothing has been spent yet\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-16s %-14s %-10s %-8s %-10s %-10s %s\n", "SITE", "DATASET",
                               "BUDGET", "DELTA", "SPENT", "REMAINING", "JOBS (epsilon, rounds)");
  for (const auto& b : response.budgets()) {
    std::string jobs;
    for (const auto& job : b.jobs()) {
      absl::StrAppend(&jobs, jobs.empty() ? "" : ", ", job.job_id(), " (", Number(job.epsilon()),
                      ", ", job.rounds(), ")");
    }
    std::cout << absl::StrFormat(
        "%-16s %-14s %-10s %-8g %-10s %-10s %s\n", b.budget().site_id(), b.budget().dataset(),
        b.budget_set() ? Number(b.budget().epsilon()) : "none", b.budget().delta(),
        Number(b.spent()) + (b.spend_complete() ? "" : "+"),
        b.budget_set() ? Number(b.remaining()) : "-", jobs.empty() ? "-" : jobs);
  }
  std::cout << "epsilon composed over every job with the RDP accountant at each row's delta";
  bool incomplete = false;
  for (const auto& b : response.budgets()) incomplete |= !b.spend_complete();
  if (incomplete) std::cout << "; + marks a spend with rounds that could not be estimated";
  std::cout << ".\n";
  return absl::OkStatus();
}

// Everything the board's report is made from, fetched from the coordinator;
// NOT_FOUND naming the job when --job names one that does not exist.
absl::StatusOr<ReportInputs> FetchReportInputs(AdminClient& client,
                                               const ConnectionOptions& connection,
                                               const std::string& job_id) {
  ReportInputs inputs;
  inputs.job_filter = job_id;
  inputs.generated_at = absl::Now();
  TESSERA_ASSIGN_OR_RETURN(inputs.ca_certificate_pem,
                           ReadFileToString(connection.ca_file, "federation CA certificate (--ca)"));
  std::vector<std::string> job_ids;
  if (job_id.empty()) {
    tessera::v1::ListJobsResponse jobs;
    auto context = client.NewContext();
    grpc::Status status = client.stub().ListJobs(context.get(), {}, &jobs);
    if (!status.ok()) return client.CallError(status);
    for (const auto& job : jobs.jobs()) job_ids.push_back(job.job_id());
  } else {
    job_ids.push_back(job_id);
  }
  for (const std::string& id : job_ids) {
    tessera::v1::GetJobRequest request;
    request.set_job_id(id);
    tessera::v1::GetJobResponse job;
    auto context = client.NewContext();
    grpc::Status status = client.stub().GetJob(context.get(), request, &job);
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
        return absl::NotFoundError(
            absl::StrCat("no job `", id, "` exists; see `tessera job list` for the job ids"));
      }
      return client.CallError(status);
    }
    inputs.jobs.push_back(std::move(job));
  }
  {
    tessera::v1::ListBudgetsResponse budgets;
    auto context = client.NewContext();
    grpc::Status status = client.stub().ListBudgets(context.get(), {}, &budgets);
    if (!status.ok()) return client.CallError(status);
    inputs.budgets.assign(budgets.budgets().begin(), budgets.budgets().end());
  }
  {
    // The whole ledger: a trust's spend spans every job.
    tessera::v1::ReadPrivacyRecordsResponse records;
    auto context = client.NewContext();
    grpc::Status status = client.stub().ReadPrivacyRecords(context.get(), {}, &records);
    if (!status.ok()) return client.CallError(status);
    inputs.ledger.assign(records.ledger().begin(), records.ledger().end());
    for (const auto& receipt : records.receipts()) {
      if (job_id.empty() || receipt.job_id() == job_id) inputs.receipts.push_back(receipt);
    }
  }
  // The board does not take the coordinator's word for its audit log
  // either: the chain and its signed heads are checked here, with the CA.
  auto audit = FetchAndVerifyAuditLog(client, inputs.ca_certificate_pem);
  if (!audit.ok()) {
    return Annotate(audit.status(), "checking the audit log for the report");
  }
  inputs.audit_status = audit->problem.has_value() ? "failed" : "ok";
  inputs.audit_detail = AuditReportSentence(*audit);
  return inputs;
}

absl::Status RunReport(const ConnectionOptions& connection, const BudgetOptions& options) {
  if (options.format != "html" && options.format != "json" && options.format != "csv") {
    return absl::InvalidArgumentError("--format must be html, json or csv");
  }
  if (options.out.empty()) return absl::InvalidArgumentError("--out FILE is required");
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  TESSERA_ASSIGN_OR_RETURN(ReportInputs inputs, FetchReportInputs(client, connection, options.job));
  TESSERA_ASSIGN_OR_RETURN(Report report, BuildReport(inputs));
  const std::string contents = options.format == "html"   ? ReportToHtml(report)
                               : options.format == "json" ? ReportToJson(report)
                                                          : ReportToCsv(report);
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(options.out, contents, 0644));
  std::cout << absl::StrFormat(
      "report written to %s: %d trusts, %d participant rows; receipts: %d valid, %d failed, %d "
      "missing; audit chain %s\n",
      options.out, report.trusts.size(), report.rows.size(), report.receipts_valid,
      report.receipts_failed, report.receipts_missing, report.audit_status);
  return absl::OkStatus();
}

}  // namespace

void AddBudgetCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static BudgetOptions options;
  CLI::App* budget =
      AddCommandGroup(app, "budget", "Privacy budgets per trust (set by governance) and spend.");
  CLI::App* set = budget->add_subcommand(
      "set", "Governance: set a trust's privacy budget for a dataset, over all jobs.");
  AddConnectionOptions(set, connection);
  set->add_option("site", options.site, "Site id of the trust")->required();
  set->add_option("--dataset", options.dataset, "Dataset name as the trust offers it")->required();
  set->add_option("--epsilon", options.epsilon, "Budget: total epsilon over every job")->required();
  set->add_option("--delta", options.delta, "The delta the budget is stated at (default 1e-5)");
  set->add_option("--reason", options.reason, "Why (recorded in the audit log)")->required();
  set->callback(result.Bind([&connection] { return RunSet(connection, options); }));

  CLI::App* show = budget->add_subcommand(
      "show", "Per trust and dataset: budget, spent, remaining, and spend per job.");
  AddConnectionOptions(show, connection);
  show->add_option("--site", options.site, "Only this trust");
  show->add_flag("--json", options.json, "Print JSON");
  show->callback(result.Bind([&connection] { return RunShow(connection, options); }));

  CLI::App* report = budget->add_subcommand(
      "report",
      "Governance and auditors: the board's report — per trust, epsilon over time against its "
      "budget, each round's mechanism and participants, receipts checked against the CA "
      "(--ca), approvals — as one self-contained HTML page, JSON or CSV.");
  AddConnectionOptions(report, connection);
  report->add_option("--job", options.job, "Only this job (spend still counts every job)");
  report->add_option("--format", options.format, "html, json or csv")->required();
  report->add_option("--out", options.out, "File to write")->required();
  report->callback(result.Bind([&connection] { return RunReport(connection, options); }));
}

}  // namespace tessera::cli
