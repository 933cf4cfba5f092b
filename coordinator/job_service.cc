// The Admin service's job calls: submission (ML leads), listing and
// progress (everyone with a person's certificate), the governance decision,
// stopping, and model export.
#include <array>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "coordinator/job/job_json.h"
#include "coordinator/job/job_spec.h"
#include "coordinator/job/round_plan.h"
#include "coordinator/object_service.h"
#include "coordinator/services.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "nlohmann/json.hpp"
#include "transport/peer.h"

namespace tessera::coordinator {
namespace {

using transport::Role;

grpc::Status Refuse(const absl::Status& status) { return transport::ToGrpcStatus(status); }

absl::StatusOr<std::string> NewJobId() {
  std::array<uint8_t, 6> bytes{};
  TESSERA_RETURN_IF_ERROR(crypto::RandomBytes(absl::MakeSpan(bytes)));
  return absl::StrCat("job-", absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(bytes.data()), bytes.size())));
}

// The size of an uploaded object; FAILED_PRECONDITION naming it when it has
// not been uploaded.
absl::StatusOr<uint64_t> UploadedSize(const ObjectStore& objects, const std::string& sha256_hex,
                                      absl::string_view what) {
  auto size = objects.Size(sha256_hex);
  if (!size.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ", what, " ", sha256_hex, " has not been uploaded; upload it with UploadObject first"));
  }
  return size;
}

}  // namespace

tessera::v1::JobSummary AdminService::Summarize(const JobRecord& job) const {
  tessera::v1::JobSummary summary;
  summary.set_job_id(job.job_id);
  summary.set_name(job.name);
  summary.set_state(std::string(JobStateName(job.state)));
  summary.set_state_reason(job.state_reason);
  summary.set_rounds_completed(static_cast<uint32_t>(job.rounds_completed));
  summary.set_submitted_by(job.submitted_by);
  summary.set_submitted_unix_ms(absl::ToUnixMillis(job.submitted_at));
  auto spec = JobSpecFromJson(job.spec_json);
  if (spec.ok()) {
    summary.set_rounds_total(static_cast<uint32_t>(spec->rounds));
    summary.set_privacy_mode(std::string(PrivacyModeName(spec->privacy_mode)));
  }
  summary.set_waiting_reason(runner_.WaitingReason(job.job_id));
  return summary;
}

grpc::Status AdminService::SubmitJob(grpc::ServerContext* context,
                                     const tessera::v1::SubmitJobRequest* request,
                                     tessera::v1::SubmitJobResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kMlLead}, "Admin.SubmitJob");
  if (!identity.ok()) return Refuse(identity.status());
  auto spec = JobSpecFromJson(request->spec_json());
  if (!spec.ok()) return Refuse(spec.status());
  if (CanonicalJson(*spec) != request->spec_json()) {
    return Refuse(absl::InvalidArgumentError(
        "the job is not in canonical form; submit it with `tessera job submit`"));
  }
  auto model_size = UploadedSize(objects_, request->model_sha256(), "model file");
  if (!model_size.ok()) return Refuse(model_size.status());
  auto initial_size =
      UploadedSize(objects_, request->initial_parameters_sha256(), "initial parameters");
  if (!initial_size.ok()) return Refuse(initial_size.status());
  // The initial parameters become the job's round-0 checkpoint.
  auto initial = objects_.Read(request->initial_parameters_sha256(), 0, *initial_size);
  if (!initial.ok()) return Refuse(initial.status());
  if (initial->empty() || initial->size() % 4 != 0) {
    return Refuse(absl::InvalidArgumentError(absl::StrCat(
        "the initial parameters (", initial->size(), " bytes) are not float32 values")));
  }
  const auto dimension = static_cast<int64_t>(initial->size() / 4);
  // Everything a round will need from the job must work now, not at round 1.
  auto layout = TrainingLayout(*spec, dimension);
  if (!layout.ok()) return Refuse(layout.status());
  auto codec = AggregateCodec::ForTraining(*spec, *layout);
  if (!codec.ok()) return Refuse(codec.status());
  if (spec->privacy_mode == PrivacyMode::kSite) {
    auto plan = PlanSiteLevel(*spec, dimension);
    if (!plan.ok()) return Refuse(plan.status());
  }
  auto job_id = NewJobId();
  if (!job_id.ok()) return Refuse(job_id.status());

  const absl::Time now = clock_.Now();
  NewJob job;
  job.job_id = *job_id;
  job.name = spec->name;
  job.spec_json = request->spec_json();
  job.spec_sha256 = crypto::Sha256Hex(job.spec_json);
  job.model_sha256 = request->model_sha256();
  job.initial_parameters_sha256 = request->initial_parameters_sha256();
  job.dimension = dimension;
  job.submitted_by = identity->id;
  job.submitted_at = now;
  const nlohmann::json details = {{"name", job.name},
                                  {"spec_sha256", job.spec_sha256},
                                  {"model_sha256", job.model_sha256},
                                  {"privacy_mode", std::string(PrivacyModeName(spec->privacy_mode))}};
  absl::Status created = store_.CreateJob(
      job, {now, identity->id, std::string(transport::RoleName(identity->role)), "job.submitted",
            job.job_id, details.dump()});
  if (!created.ok()) return Refuse(created);
  CheckpointRecord initial_checkpoint;
  initial_checkpoint.job_id = job.job_id;
  initial_checkpoint.round = 0;
  initial_checkpoint.parameters = std::move(*initial);
  initial_checkpoint.parameters_sha256 = job.initial_parameters_sha256;
  initial_checkpoint.created_at = now;
  absl::Status saved = store_.SaveInitialCheckpoint(initial_checkpoint);
  if (!saved.ok()) return Refuse(saved);
  Logger("coordinator")
      ->info("job submitted job={} name={} by={} parameters={}", job.job_id, job.name,
             identity->id, dimension);
  response->set_job_id(job.job_id);
  response->set_spec_sha256(job.spec_sha256);
  return grpc::Status::OK;
}

grpc::Status AdminService::ListJobs(grpc::ServerContext* context,
                                    const tessera::v1::ListJobsRequest* /*request*/,
                                    tessera::v1::ListJobsResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kOperator, Role::kMlLead, Role::kGovernance, Role::kAuditor}, "Admin.ListJobs");
  if (!identity.ok()) return Refuse(identity.status());
  auto jobs = store_.ListJobs();
  if (!jobs.ok()) return Refuse(jobs.status());
  for (const JobRecord& job : *jobs) *response->add_jobs() = Summarize(job);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetJob(grpc::ServerContext* context,
                                  const tessera::v1::GetJobRequest* request,
                                  tessera::v1::GetJobResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kOperator, Role::kMlLead, Role::kGovernance, Role::kAuditor}, "Admin.GetJob");
  if (!identity.ok()) return Refuse(identity.status());
  auto job = store_.GetJob(request->job_id());
  if (!job.ok()) return Refuse(job.status());
  *response->mutable_summary() = Summarize(*job);
  response->set_spec_json(job->spec_json);
  response->set_spec_sha256(job->spec_sha256);
  response->set_model_sha256(job->model_sha256);
  response->set_parameter_count(static_cast<uint64_t>(job->dimension));
  if (job->decision.has_value()) {
    response->set_decided_by(job->decision->approver);
    response->set_decided_unix_ms(absl::ToUnixMillis(job->decision->decided_at));
    response->set_approved(job->decision->approved);
    response->set_decision_reason(job->decision->reason);
  }
  auto rounds = store_.ListRounds(job->job_id);
  if (!rounds.ok()) return Refuse(rounds.status());
  for (const RoundRecord& record : *rounds) {
    tessera::v1::RoundSummary& out = *response->add_rounds();
    out.set_round(static_cast<uint32_t>(record.round));
    out.set_attempt(static_cast<uint32_t>(record.attempt));
    out.set_outcome(record.outcome);
    out.set_reason(record.reason);
    out.set_started_unix_ms(absl::ToUnixMillis(record.started_at));
    out.set_finished_unix_ms(absl::ToUnixMillis(record.finished_at));
    out.set_metrics_json(record.metrics_json);
    for (const ParticipantRecord& participant : record.participants) {
      tessera::v1::ParticipantStatus& p = *out.add_participants();
      p.set_site_id(participant.site_id);
      p.set_status(participant.status);
      p.set_detail(participant.detail);
    }
  }
  if (auto progress = runner_.Progress(job->job_id); progress.has_value()) {
    *response->mutable_progress() = *progress;
    response->set_in_progress(true);
  }
  if (job->state == JobState::kPendingApproval || job->state == JobState::kApproved) {
    auto spec = JobSpecFromJson(job->spec_json);
    if (!spec.ok()) return Refuse(spec.status());
    absl::Status planned = PlanSpend(*job, *spec, response->mutable_planned());
    if (!planned.ok()) return Refuse(planned);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::DecideJob(grpc::ServerContext* context,
                                     const tessera::v1::DecideJobRequest* request,
                                     tessera::v1::DecideJobResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kGovernance}, "Admin.DecideJob");
  if (!identity.ok()) return Refuse(identity.status());
  auto job = store_.GetJob(request->job_id());
  if (!job.ok()) return Refuse(job.status());
  auto spec = JobSpecFromJson(job->spec_json);
  if (!spec.ok()) return Refuse(spec.status());
  if (request->approve() && spec->privacy_mode == PrivacyMode::kNone &&
      !request->allow_non_private()) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
        "job `", job->job_id,
        "` trains without differential privacy (privacy mode \"none\"); approving it needs the "
        "explicit --allow-non-private flag")));
  }
  ApprovalRecord decision;
  decision.approver = identity->id;
  decision.decided_at = clock_.Now();
  decision.approved = request->approve();
  decision.reason = request->reason();
  decision.spec_sha256 = request->spec_sha256();
  decision.allow_non_private = request->allow_non_private();
  const nlohmann::json details = {{"spec_sha256", decision.spec_sha256},
                                  {"reason", decision.reason},
                                  {"allow_non_private", decision.allow_non_private}};
  absl::Status recorded = store_.RecordDecision(
      job->job_id, decision,
      {decision.decided_at, identity->id, std::string(transport::RoleName(identity->role)),
       request->approve() ? "job.approved" : "job.rejected", job->job_id, details.dump()});
  if (!recorded.ok()) return Refuse(recorded);
  Logger("coordinator")
      ->info("job {} job={} by={}", request->approve() ? "approved" : "rejected", job->job_id,
             identity->id);
  runner_.Wake();
  response->set_state(request->approve() ? "approved" : "rejected");
  return grpc::Status::OK;
}

grpc::Status AdminService::StopJob(grpc::ServerContext* context,
                                   const tessera::v1::StopJobRequest* request,
                                   tessera::v1::StopJobResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kMlLead, Role::kOperator}, "Admin.StopJob");
  if (!identity.ok()) return Refuse(identity.status());
  const std::string reason =
      request->reason().empty() ? absl::StrCat("stopped by ", identity->id) : request->reason();
  absl::Status stopped = runner_.StopJob(
      request->job_id(), reason,
      {clock_.Now(), identity->id, std::string(transport::RoleName(identity->role)), "job.stopped",
       request->job_id(), nlohmann::json{{"reason", reason}}.dump()});
  if (!stopped.ok()) return Refuse(stopped);
  Logger("coordinator")->info("job stopped job={} by={}", request->job_id(), identity->id);
  response->set_state("stopped");
  return grpc::Status::OK;
}

grpc::Status AdminService::GetModel(grpc::ServerContext* context,
                                    const tessera::v1::GetModelRequest* request,
                                    tessera::v1::GetModelResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kMlLead, Role::kOperator}, "Admin.GetModel");
  if (!identity.ok()) return Refuse(identity.status());
  auto job = store_.GetJob(request->job_id());
  if (!job.ok()) return Refuse(job.status());
  auto checkpoint = request->round() == 0 ? store_.LatestCheckpoint(job->job_id)
                                          : store_.GetCheckpoint(job->job_id, request->round());
  if (!checkpoint.ok()) return Refuse(checkpoint.status());
  auto parameters = objects_.Put(checkpoint->parameters);
  if (!parameters.ok()) return Refuse(parameters.status());
  auto model_size = objects_.Size(job->model_sha256);
  if (!model_size.ok()) return Refuse(model_size.status());
  response->set_round(static_cast<uint32_t>(checkpoint->round));
  response->mutable_model()->set_sha256_hex(job->model_sha256);
  response->mutable_model()->set_size_bytes(*model_size);
  response->mutable_parameters()->set_sha256_hex(*parameters);
  response->mutable_parameters()->set_size_bytes(checkpoint->parameters.size());
  response->set_spec_json(job->spec_json);
  Audit(*identity, "model.exported", job->job_id,
        nlohmann::json{{"round", checkpoint->round}, {"parameters_sha256", *parameters}}.dump());
  return grpc::Status::OK;
}

}  // namespace tessera::coordinator
