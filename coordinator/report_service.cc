// The Admin service's ReadPrivacyRecords: the central ledger and the stored
// receipts, as filed, for the governance board's report. The coordinator
// only hands them over; the report checks each receipt against the
// federation CA itself.
#include "absl/strings/str_cat.h"
#include "coordinator/services.h"
#include "transport/peer.h"

namespace tessera::coordinator {

grpc::Status AdminService::ReadPrivacyRecords(grpc::ServerContext* context,
                                              const tessera::v1::ReadPrivacyRecordsRequest* request,
                                              tessera::v1::ReadPrivacyRecordsResponse* response) {
  auto identity = guard_.Admit(*context, {transport::Role::kGovernance, transport::Role::kAuditor},
                               "Admin.ReadPrivacyRecords");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  const std::string& job_id = request->job_id();
  if (!job_id.empty()) {
    // The store's NOT_FOUND does not say what to do; this one names the job.
    auto job = store_.GetJob(job_id);
    if (!job.ok()) {
      if (job.status().code() != absl::StatusCode::kNotFound) {
        return transport::ToGrpcStatus(job.status());
      }
      return transport::ToGrpcStatus(absl::NotFoundError(
          absl::StrCat("no job `", job_id, "` exists; see `tessera job list`")));
    }
  }
  auto ledger = store_.ListLedger(job_id);
  if (!ledger.ok()) return transport::ToGrpcStatus(ledger.status());
  auto receipts = store_.ListReceipts(job_id);
  if (!receipts.ok()) return transport::ToGrpcStatus(receipts.status());
  for (const LedgerRecord& row : *ledger) {
    tessera::v1::CentralLedgerEntry& out = *response->add_ledger();
    out.set_job_id(row.job_id);
    out.set_round(static_cast<uint32_t>(row.round));
    out.set_site_id(row.site_id);
    out.set_dataset(row.dataset);
    out.set_event_json(row.event_json);
    out.set_recorded_unix_ms(absl::ToUnixMillis(row.recorded_at));
  }
  for (const ReceiptRecord& row : *receipts) {
    tessera::v1::StoredReceipt& out = *response->add_receipts();
    out.set_job_id(row.job_id);
    out.set_round(static_cast<uint32_t>(row.round));
    out.set_attempt(static_cast<uint32_t>(row.attempt));
    out.set_site_id(row.site_id);
    out.mutable_receipt()->set_receipt(row.receipt);
    out.mutable_receipt()->set_signature(row.signature);
    out.mutable_receipt()->set_certificate_pem(row.certificate_pem);
    out.set_received_unix_ms(absl::ToUnixMillis(row.received_at));
  }
  return grpc::Status::OK;
}

}  // namespace tessera::coordinator
