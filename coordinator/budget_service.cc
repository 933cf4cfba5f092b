// The Admin service's governance budget calls, and the planned spend of a
// job that GetJob shows the board before approval.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "agent/round/local_policy.h"
#include "common/logging.h"
#include "common/status.h"
#include "coordinator/budgets.h"
#include "coordinator/job/round_plan.h"
#include "coordinator/services.h"
#include "nlohmann/json.hpp"
#include "transport/peer.h"

namespace tessera::coordinator {
namespace {

using transport::Role;

grpc::Status Refuse(const absl::Status& status) { return transport::ToGrpcStatus(status); }

void ToProto(const BudgetRecord& budget, tessera::v1::Budget* out) {
  out->set_site_id(budget.site_id);
  out->set_dataset(budget.dataset);
  out->set_epsilon(budget.epsilon);
  out->set_delta(budget.delta);
  out->set_set_by(budget.set_by);
  out->set_set_unix_ms(absl::ToUnixMillis(budget.set_at));
  out->set_reason(budget.reason);
}

// The spend of every (site, dataset), from the store.
absl::StatusOr<std::vector<SpendSummary>> CurrentSpend(Store& store, const std::string& site) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<BudgetRecord> budgets, store.ListBudgets());
  TESSERA_ASSIGN_OR_RETURN(std::vector<LedgerRecord> ledger, store.ListLedger(""));
  return SummarizeSpend(budgets, ledger, site);
}

}  // namespace

grpc::Status AdminService::SetBudget(grpc::ServerContext* context,
                                     const tessera::v1::SetBudgetRequest* request,
                                     tessera::v1::SetBudgetResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kGovernance}, "Admin.SetBudget");
  if (!identity.ok()) return Refuse(identity.status());
  const tessera::v1::Budget& in = request->budget();
  if (in.site_id().empty() || in.dataset().empty() || in.site_id().size() > 256 ||
      in.dataset().size() > 256 || in.reason().size() > 1024) {
    return Refuse(absl::InvalidArgumentError(
        "a budget names a site and a dataset (at most 256 characters each) and a reason of at "
        "most 1024"));
  }
  auto sites = store_.ListSites();
  if (!sites.ok()) return Refuse(sites.status());
  if (std::none_of(sites->begin(), sites->end(),
                   [&](const SiteRecord& site) { return site.site_id == in.site_id(); })) {
    return Refuse(absl::NotFoundError(absl::StrCat(
        "no site `", in.site_id(), "` is enrolled or has connected; see `tessera sites list`")));
  }
  BudgetRecord budget{in.site_id(), in.dataset(), in.epsilon(), in.delta(), identity->id,
                      clock_.Now(), in.reason()};
  const nlohmann::json details = {{"dataset", budget.dataset},
                                  {"epsilon", budget.epsilon},
                                  {"delta", budget.delta},
                                  {"reason", budget.reason}};
  absl::Status stored = store_.SetBudget(
      budget, {budget.set_at, identity->id, std::string(transport::RoleName(identity->role)),
               "budget.set", budget.site_id, details.dump()});
  if (!stored.ok()) return Refuse(stored);
  Logger("coordinator")
      ->info("budget set site={} dataset={} epsilon={} delta={} by={}", budget.site_id,
             budget.dataset, budget.epsilon, budget.delta, identity->id);
  runner_.Wake();  // a job waiting for budget may go on now
  ToProto(budget, response->mutable_budget());
  return grpc::Status::OK;
}

grpc::Status AdminService::ListBudgets(grpc::ServerContext* context,
                                       const tessera::v1::ListBudgetsRequest* request,
                                       tessera::v1::ListBudgetsResponse* response) {
  auto identity = guard_.Admit(
      *context, {Role::kGovernance, Role::kAuditor, Role::kOperator, Role::kMlLead},
      "Admin.ListBudgets");
  if (!identity.ok()) return Refuse(identity.status());
  auto spend = CurrentSpend(store_, request->site_id());
  if (!spend.ok()) return Refuse(spend.status());
  for (const SpendSummary& summary : *spend) {
    tessera::v1::BudgetStatus& out = *response->add_budgets();
    if (summary.budget.has_value()) {
      ToProto(*summary.budget, out.mutable_budget());
      out.set_budget_set(true);
      out.set_remaining(summary.budget->epsilon - summary.spent);
    } else {
      out.mutable_budget()->set_site_id(summary.site_id);
      out.mutable_budget()->set_dataset(summary.dataset);
      out.mutable_budget()->set_delta(summary.delta);
    }
    out.set_spent(summary.spent);
    out.set_spend_complete(summary.complete);
    for (const JobSpendSummary& job : summary.jobs) {
      tessera::v1::JobSpend& j = *out.add_jobs();
      j.set_job_id(job.job_id);
      j.set_epsilon(job.epsilon);
      j.set_rounds(static_cast<uint32_t>(job.rounds));
    }
  }
  return grpc::Status::OK;
}

absl::Status AdminService::PlanSpend(
    const JobRecord& job, const JobSpec& spec,
    google::protobuf::RepeatedPtrField<tessera::v1::PlannedSpend>* out) const {
  TESSERA_ASSIGN_OR_RETURN(std::vector<SpendSummary> spend, CurrentSpend(store_, ""));
  for (const SiteState& site : registry_.List()) {
    if (!site.connected) continue;
    for (const DatasetSummary& dataset : site.report.datasets) {
      if (dataset.name != spec.dataset) continue;
      tessera::v1::PlannedSpend& planned = *out->Add();
      planned.set_site_id(site.site_id);
      planned.set_record_count_bucket(dataset.record_count_bucket);
      planned.set_delta(spec.delta);
      // The whole job: its rounds of this site's round events.
      privacy::PrivacyLedger job_events;
      auto round = RoundEvents(spec, job.dimension,
                               std::max<int64_t>(1, static_cast<int64_t>(dataset.record_count_bucket)));
      absl::Status status = round.status();
      for (int64_t r = 0; status.ok() && r < spec.rounds; ++r) {
        for (const privacy::LedgerEntry& entry : round->entries()) {
          status.Update(job_events.Add(entry.event, entry.count));
        }
      }
      absl::StatusOr<double> epsilon =
          status.ok() ? agent::EpsilonOf(job_events, spec.delta) : absl::StatusOr<double>(status);
      if (!epsilon.ok()) {
        planned.set_note(absl::StrCat("no estimate: ", epsilon.status().message()));
        continue;
      }
      planned.set_epsilon(*epsilon);
      auto summary = std::find_if(spend.begin(), spend.end(), [&](const SpendSummary& s) {
        return s.site_id == site.site_id && s.dataset == spec.dataset;
      });
      if (summary == spend.end() || !summary->budget.has_value()) continue;
      planned.set_budget_set(true);
      planned.set_budget_epsilon(summary->budget->epsilon);
      planned.set_budget_delta(summary->budget->delta);
      planned.set_budget_spent(summary->spent);
      privacy::PrivacyLedger after = summary->events;
      for (const privacy::LedgerEntry& entry : job_events.entries()) {
        TESSERA_RETURN_IF_ERROR(after.Add(entry.event, entry.count));
      }
      TESSERA_ASSIGN_OR_RETURN(double budget_after, agent::EpsilonOf(after, summary->budget->delta));
      planned.set_budget_after(budget_after);
      if (!summary->complete) planned.set_note("spend so far is incomplete: some rounds have no estimate");
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera::coordinator
