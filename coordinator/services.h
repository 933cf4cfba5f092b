// The coordinator's gRPC services: Federation (called by agents) and Admin
// (called by the `tessera` tool). Both authorise every call by the role in
// the caller's verified certificate.
//
// Thread-safety: gRPC calls the handlers concurrently; all shared state
// lives in the thread-safe SiteRegistry, Revocations and CallGuard.
#pragma once

#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/call_guard.h"
#include "coordinator/job_runner.h"
#include "coordinator/mailboxes.h"
#include "coordinator/object_store.h"
#include "coordinator/revocations.h"
#include "coordinator/site_registry.h"
#include "coordinator/store.h"
#include "tessera.grpc.pb.h"

namespace tessera::coordinator {

// Most audit entries in one ReadAudit page.
inline constexpr uint32_t kMaxAuditPage = 1000;

// A page of the audit log: entries after `after_sequence` with a time at
// or after `since_unix_ms`, oldest first, at most `limit` (0 or more than
// kMaxAuditPage: kMaxAuditPage) and about 3 MiB (never fewer than one),
// with `more` set when entries remain; and the signed heads among the
// sequences the page covers. The last page (more = false) carries every
// signed head after `after_sequence`, also any beyond the last entry, so
// that a log cut short shows. INVALID_ARGUMENT for a negative
// after_sequence or since_unix_ms; store errors otherwise.
absl::StatusOr<tessera::v1::ReadAuditResponse> ReadAuditPage(
    Store& store, const tessera::v1::ReadAuditRequest& request);

class FederationService final : public tessera::v1::Federation::Service {
 public:
  FederationService(CallGuard& guard, SiteRegistry& registry, Store& store, ObjectStore& objects,
                    Mailboxes& mailboxes, const Revocations& revocations, JobRunner& runner,
                    const Clock& clock, absl::Duration heartbeat_interval)
      : guard_(guard),
        registry_(registry),
        store_(store),
        objects_(objects),
        mailboxes_(mailboxes),
        revocations_(revocations),
        runner_(runner),
        clock_(clock),
        heartbeat_interval_(heartbeat_interval) {}

  grpc::Status Heartbeat(grpc::ServerContext* context, const tessera::v1::HeartbeatRequest* request,
                         tessera::v1::HeartbeatResponse* response) override;
  grpc::Status Download(grpc::ServerContext* context, const tessera::v1::DownloadRequest* request,
                        grpc::ServerWriter<tessera::v1::Chunk>* writer) override;
  // Long poll: answers with the site's next piece of work, or empty when
  // the call's deadline (at most kMaxLongPoll) is near. Ends at once with
  // UNAUTHENTICATED if the site's certificate is revoked while it waits.
  grpc::Status GetWork(grpc::ServerContext* context, const tessera::v1::GetWorkRequest* request,
                       tessera::v1::GetWorkResponse* response) override;
  // A site's message for a stage of the round in progress (inline, or an
  // object it uploaded before), handed to the JobRunner.
  grpc::Status SubmitStage(grpc::ServerContext* context,
                           const tessera::v1::StageSubmission* request,
                           tessera::v1::StageSubmissionResponse* response) override;
  // A large stage payload (a masked input), stored by hash for SubmitStage.
  grpc::Status Upload(grpc::ServerContext* context,
                      grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                      tessera::v1::UploadResponse* response) override;

  static constexpr absl::Duration kMaxLongPoll = absl::Seconds(60);

 private:
  CallGuard& guard_;
  SiteRegistry& registry_;
  Store& store_;
  ObjectStore& objects_;
  Mailboxes& mailboxes_;
  const Revocations& revocations_;
  JobRunner& runner_;
  const Clock& clock_;
  const absl::Duration heartbeat_interval_;
};

class AdminService final : public tessera::v1::Admin::Service {
 public:
  AdminService(CallGuard& guard, SiteRegistry& registry, Store& store, Revocations& revocations,
               ObjectStore& objects, JobRunner& runner, std::string ca_cert_pem,
               const Clock& clock)
      : guard_(guard),
        registry_(registry),
        store_(store),
        ca_cert_pem_(std::move(ca_cert_pem)),
        revocations_(revocations),
        objects_(objects),
        runner_(runner),
        clock_(clock),
        started_(clock.Now()) {}

  grpc::Status ListSites(grpc::ServerContext* context, const tessera::v1::ListSitesRequest* request,
                         tessera::v1::ListSitesResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context,
                      const tessera::v1::CoordinatorStatusRequest* request,
                      tessera::v1::CoordinatorStatusResponse* response) override;
  grpc::Status PublishRevocationList(
      grpc::ServerContext* context, const tessera::v1::PublishRevocationListRequest* request,
      tessera::v1::PublishRevocationListResponse* response) override;
  grpc::Status RegisterSite(grpc::ServerContext* context,
                            const tessera::v1::RegisterSiteRequest* request,
                            tessera::v1::RegisterSiteResponse* response) override;
  grpc::Status UploadObject(grpc::ServerContext* context,
                            grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                            tessera::v1::UploadResponse* response) override;
  grpc::Status DownloadObject(grpc::ServerContext* context,
                              const tessera::v1::DownloadRequest* request,
                              grpc::ServerWriter<tessera::v1::Chunk>* writer) override;

  // Jobs (job_service.cc).
  grpc::Status SubmitJob(grpc::ServerContext* context, const tessera::v1::SubmitJobRequest* request,
                         tessera::v1::SubmitJobResponse* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const tessera::v1::ListJobsRequest* request,
                        tessera::v1::ListJobsResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const tessera::v1::GetJobRequest* request,
                      tessera::v1::GetJobResponse* response) override;
  grpc::Status DecideJob(grpc::ServerContext* context, const tessera::v1::DecideJobRequest* request,
                         tessera::v1::DecideJobResponse* response) override;
  grpc::Status StopJob(grpc::ServerContext* context, const tessera::v1::StopJobRequest* request,
                       tessera::v1::StopJobResponse* response) override;
  grpc::Status GetModel(grpc::ServerContext* context, const tessera::v1::GetModelRequest* request,
                        tessera::v1::GetModelResponse* response) override;

  // A page of the audit log for governance, auditors and operators
  // (ReadAuditPage).
  grpc::Status ReadAudit(grpc::ServerContext* context, const tessera::v1::ReadAuditRequest* request,
                         tessera::v1::ReadAuditResponse* response) override;
  // Governance budgets (coordinator/budget_service.cc).
  grpc::Status SetBudget(grpc::ServerContext* context, const tessera::v1::SetBudgetRequest* request,
                         tessera::v1::SetBudgetResponse* response) override;
  grpc::Status ListBudgets(grpc::ServerContext* context,
                           const tessera::v1::ListBudgetsRequest* request,
                           tessera::v1::ListBudgetsResponse* response) override;
  // The central ledger and stored receipts of one job ("" = every job) for
  // the board's report; governance and auditors. NOT_FOUND naming a job that
  // does not exist (coordinator/report_service.cc).
  grpc::Status ReadPrivacyRecords(grpc::ServerContext* context,
                                  const tessera::v1::ReadPrivacyRecordsRequest* request,
                                  tessera::v1::ReadPrivacyRecordsResponse* response) override;

 private:
  // The summary of `job` as listed.
  tessera::v1::JobSummary Summarize(const JobRecord& job) const;
  // What `job` would spend at each connected site offering its dataset.
  absl::Status PlanSpend(const JobRecord& job, const JobSpec& spec,
                         google::protobuf::RepeatedPtrField<tessera::v1::PlannedSpend>* out) const;

  // Appends to the audit chain; a failure is logged (the action stands).
  void Audit(const transport::PeerIdentity& actor, const std::string& action,
             const std::string& subject, const std::string& details);

  CallGuard& guard_;
  SiteRegistry& registry_;
  Store& store_;
  const std::string ca_cert_pem_;
  Revocations& revocations_;
  ObjectStore& objects_;
  JobRunner& runner_;
  const Clock& clock_;
  const absl::Time started_;
};

}  // namespace tessera::coordinator
