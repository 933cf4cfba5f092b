// `tessera budget ...`: governance's privacy budgets per trust and dataset,
// and what has been spent against them.
#include <cmath>
#include <iostream>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
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
}

}  // namespace tessera::cli
