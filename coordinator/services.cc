#include "coordinator/services.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "coordinator/object_service.h"
#include "governance/receipt.h"
#include "tessera/version.h"
#include "transport/peer.h"
#include "transport/pki.h"

namespace tessera::coordinator {
namespace {

using transport::PeerIdentity;
using transport::Role;

// Limits on what an agent may report, so a faulty or hostile agent cannot
// make the coordinator hold unbounded data.
constexpr int kMaxDatasets = 64;
constexpr int kMaxCapabilities = 64;
constexpr size_t kMaxTextLength = 256;

absl::Status ValidateText(const std::string& text, absl::string_view field) {
  if (text.size() > kMaxTextLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is longer than ", kMaxTextLength, " characters"));
  }
  return absl::OkStatus();
}


// A page of the audit log is cut at about this size.
constexpr size_t kMaxAuditPageBytes = size_t{3} << 20;
// Room per entry for a signed head in the page (certificate PEM, signature;
// about 1 KiB in fact).
constexpr size_t kAuditHeadBytes = 2048;

// Receives an upload into the object store and logs what was stored (or
// why it was refused) for `caller`.
grpc::Status ReceiveAndLog(ObjectStore& objects, const std::string& caller,
                           grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                           tessera::v1::UploadResponse* response) {
  auto received = ReceiveUpload(objects, reader);
  if (!received.ok()) {
    Logger("coordinator")
        ->warn("upload refused caller={} reason=\"{}\"", caller,
               std::string(received.status().message()));
    return transport::ToGrpcStatus(received.status());
  }
  Logger("coordinator")
      ->info("object stored caller={} sha256={} bytes={} duplicate={}", caller,
             received->object().sha256_hex(), received->object().size_bytes(),
             received->duplicate());
  *response = *received;
  return grpc::Status::OK;
}

}  // namespace

grpc::Status FederationService::Heartbeat(grpc::ServerContext* context,
                                          const tessera::v1::HeartbeatRequest* request,
                                          tessera::v1::HeartbeatResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kSite}, "Federation.Heartbeat");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());

  const tessera::v1::AgentInfo& info = request->info();
  if (info.datasets_size() > kMaxDatasets) {
    return transport::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("heartbeat lists ", info.datasets_size(), " datasets; at most ",
                     kMaxDatasets, " are allowed")));
  }
  for (const auto& [text, field] : {std::pair{&info.agent_version(), "agent_version"},
                                    std::pair{&info.hostname(), "hostname"}}) {
    absl::Status status = ValidateText(*text, field);
    if (!status.ok()) return transport::ToGrpcStatus(status);
  }
  SiteReport report;
  report.agent_version = info.agent_version();
  report.hostname = info.hostname();
  report.sequence = request->sequence();
  report.agent_time = absl::FromUnixMillis(request->agent_time_unix_ms());
  report.certificate_serial = identity->serial_hex;
  report.certificate_expires = identity->not_after;
  for (const auto& dataset : info.datasets()) {
    absl::Status status = ValidateText(dataset.name(), "dataset name");
    if (!status.ok()) return transport::ToGrpcStatus(status);
    report.datasets.push_back({dataset.name(), dataset.record_count_bucket()});
  }
  if (info.capabilities_size() > kMaxCapabilities) {
    return transport::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("heartbeat lists ", info.capabilities_size(), " capabilities; at most ",
                     kMaxCapabilities, " are allowed")));
  }
  for (const std::string& capability : info.capabilities()) {
    absl::Status status = ValidateText(capability, "capability");
    if (!status.ok()) return transport::ToGrpcStatus(status);
    report.capabilities.push_back(capability);
  }
  if (registry_.RecordHeartbeat(identity->id, report)) {
    absl::Status stored = store_.RecordSeen(identity->id, identity->serial_hex,
                                            identity->not_after, clock_.Now());
    if (!stored.ok()) {
      Logger("coordinator")
          ->error("site sighting not stored site={} error=\"{}\"", identity->id,
                  std::string(stored.message()));
    }
  }
  Logger("coordinator")
      ->debug("heartbeat site={} sequence={} datasets={}", identity->id, report.sequence,
              report.datasets.size());

  response->set_site_id(identity->id);
  response->set_coordinator_time_unix_ms(absl::ToUnixMillis(clock_.Now()));
  response->set_next_heartbeat_ms(
      static_cast<uint32_t>(absl::ToInt64Milliseconds(heartbeat_interval_)));
  return grpc::Status::OK;
}

grpc::Status AdminService::ListSites(grpc::ServerContext* context,
                                     const tessera::v1::ListSitesRequest* /*request*/,
                                     tessera::v1::ListSitesResponse* response) {
  auto identity = guard_.Admit(
      *context, {Role::kOperator, Role::kMlLead, Role::kGovernance, Role::kAuditor},
      "Admin.ListSites");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  auto stored = store_.ListSites();
  if (!stored.ok()) return transport::ToGrpcStatus(stored.status());
  // Live state from heartbeats since start-up, over what the store knows
  // (enrolled sites that never connected, sites seen before a restart).
  std::map<std::string, tessera::v1::SiteStatus> sites;
  for (const SiteRecord& record : *stored) {
    tessera::v1::SiteStatus& out = sites[record.site_id];
    out.set_site_id(record.site_id);
    out.set_certificate_serial(record.certificate_serial);
    out.set_certificate_expires_unix_ms(absl::ToUnixMillis(record.certificate_expires));
    if (record.enrolled_at) out.set_enrolled_unix_ms(absl::ToUnixMillis(*record.enrolled_at));
    out.set_enrolled_by(record.enrolled_by);
    if (record.last_seen) out.set_last_seen_unix_ms(absl::ToUnixMillis(*record.last_seen));
  }
  for (const SiteState& site : registry_.List()) {
    tessera::v1::SiteStatus& out = sites[site.site_id];
    out.set_site_id(site.site_id);
    out.set_agent_version(site.report.agent_version);
    out.set_last_seen_unix_ms(absl::ToUnixMillis(site.last_seen));
    out.set_connected(site.connected);
    out.set_clock_skew_ms(absl::ToInt64Milliseconds(site.clock_skew));
    out.set_certificate_serial(site.report.certificate_serial);
    out.set_certificate_expires_unix_ms(absl::ToUnixMillis(site.report.certificate_expires));
    out.clear_datasets();
    for (const DatasetSummary& dataset : site.report.datasets) {
      tessera::v1::DatasetInfo* d = out.add_datasets();
      d->set_name(dataset.name);
      d->set_record_count_bucket(dataset.record_count_bucket);
    }
    for (const std::string& capability : site.report.capabilities) out.add_capabilities(capability);
  }
  for (auto& [id, site] : sites) *response->add_sites() = std::move(site);
  return grpc::Status::OK;
}

grpc::Status AdminService::Status(grpc::ServerContext* context,
                                  const tessera::v1::CoordinatorStatusRequest* /*request*/,
                                  tessera::v1::CoordinatorStatusResponse* response) {
  auto identity = guard_.Admit(
      *context, {Role::kOperator, Role::kMlLead, Role::kGovernance, Role::kAuditor},
      "Admin.Status");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  response->set_version(kVersion);
  response->set_started_unix_ms(absl::ToUnixMillis(started_));
  response->set_caller(identity->id);
  response->set_caller_role(std::string(transport::RoleName(identity->role)));
  return grpc::Status::OK;
}

grpc::Status AdminService::PublishRevocationList(
    grpc::ServerContext* context, const tessera::v1::PublishRevocationListRequest* request,
    tessera::v1::PublishRevocationListResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kOperator}, "Admin.PublishRevocationList");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  auto applied = revocations_.Apply(request->crl_pem(), /*persist=*/true);
  if (!applied.ok()) {
    Logger("coordinator")
        ->warn("revocation list refused operator={} reason=\"{}\"", identity->id,
               std::string(applied.status().message()));
    return transport::ToGrpcStatus(applied.status());
  }
  Logger("coordinator")
      ->info("revocation list applied operator={} revoked={}", identity->id, *applied);
  Audit(*identity, "revocations.published", "crl", absl::StrCat("{\"revoked\":", *applied, "}"));
  response->set_revoked_count(static_cast<uint32_t>(*applied));
  return grpc::Status::OK;
}

grpc::Status FederationService::Download(grpc::ServerContext* context,
                                         const tessera::v1::DownloadRequest* request,
                                         grpc::ServerWriter<tessera::v1::Chunk>* writer) {
  auto identity = guard_.Admit(*context, {Role::kSite}, "Federation.Download");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  return transport::ToGrpcStatus(ServeDownload(objects_, *request, writer));
}

void AdminService::Audit(const transport::PeerIdentity& actor, const std::string& action,
                         const std::string& subject, const std::string& details) {
  auto entry = store_.AppendAudit({clock_.Now(), actor.id,
                                   std::string(transport::RoleName(actor.role)), action, subject,
                                   details});
  if (!entry.ok()) {
    Logger("coordinator")
        ->error("audit entry not written action={} subject={} error=\"{}\"", action, subject,
                std::string(entry.status().message()));
  }
}

grpc::Status AdminService::RegisterSite(grpc::ServerContext* context,
                                        const tessera::v1::RegisterSiteRequest* request,
                                        tessera::v1::RegisterSiteResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kOperator}, "Admin.RegisterSite");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  absl::Status verified =
      transport::VerifyCertificate(ca_cert_pem_, request->certificate_pem(), clock_.Now());
  if (!verified.ok()) return transport::ToGrpcStatus(verified);
  auto site = transport::IdentityFromCertificatePem(request->certificate_pem());
  if (!site.ok()) return transport::ToGrpcStatus(site.status());
  if (site->role != Role::kSite) {
    return transport::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("the certificate of `", site->id, "` is not a site certificate")));
  }
  absl::Status stored = store_.RecordEnrolment(site->id, site->serial_hex, site->not_after,
                                               identity->id, clock_.Now());
  if (!stored.ok()) return transport::ToGrpcStatus(stored);
  Audit(*identity, "site.enrolled", site->id,
        absl::StrCat("{\"serial\":\"", site->serial_hex, "\"}"));
  Logger("coordinator")
      ->info("site enrolled site={} serial={} operator={}", site->id, site->serial_hex,
             identity->id);
  response->set_site_id(site->id);
  return grpc::Status::OK;
}

grpc::Status AdminService::UploadObject(grpc::ServerContext* context,
                                        grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                                        tessera::v1::UploadResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kMlLead, Role::kOperator}, "Admin.UploadObject");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  return ReceiveAndLog(objects_, identity->id, reader, response);
}

grpc::Status AdminService::DownloadObject(grpc::ServerContext* context,
                                          const tessera::v1::DownloadRequest* request,
                                          grpc::ServerWriter<tessera::v1::Chunk>* writer) {
  auto identity = guard_.Admit(
      *context, {Role::kOperator, Role::kMlLead, Role::kGovernance, Role::kAuditor},
      "Admin.DownloadObject");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  return transport::ToGrpcStatus(ServeDownload(objects_, *request, writer));
}

absl::StatusOr<tessera::v1::ReadAuditResponse> ReadAuditPage(
    Store& store, const tessera::v1::ReadAuditRequest& request) {
  if (request.after_sequence() < 0 || request.since_unix_ms() < 0) {
    return absl::InvalidArgumentError(
        "after_sequence and since_unix_ms must not be negative (0 reads from the start)");
  }
  const uint32_t limit =
      request.limit() == 0 ? kMaxAuditPage : std::min(request.limit(), kMaxAuditPage);
  // One more than asked for, to know whether there is more.
  TESSERA_ASSIGN_OR_RETURN(std::vector<AuditEntry> entries,
                           store.ReadAudit(request.after_sequence(), int64_t{limit} + 1,
                                           absl::FromUnixMillis(request.since_unix_ms())));
  // Pages stay well under gRPC's default 4 MiB receive limit, counting
  // room for a signed head (certificate and signature) per entry.
  size_t keep = 0;
  size_t bytes = 0;
  for (const AuditEntry& entry : entries) {
    if (keep == limit) break;
    bytes += entry.event.actor.size() + entry.event.actor_role.size() + entry.event.action.size() +
             entry.event.subject.size() + entry.event.details.size() + 2 * 64 + kAuditHeadBytes;
    if (keep > 0 && bytes > kMaxAuditPageBytes) break;
    ++keep;
  }
  const bool more = entries.size() > keep;
  entries.resize(keep);
  tessera::v1::ReadAuditResponse response;
  for (const AuditEntry& entry : entries) {
    tessera::v1::AuditEntryProto* out = response.add_entries();
    out->set_sequence(entry.sequence);
    out->set_time_unix_ms(absl::ToUnixMillis(entry.event.time));
    out->set_actor(entry.event.actor);
    out->set_actor_role(entry.event.actor_role);
    out->set_action(entry.event.action);
    out->set_subject(entry.event.subject);
    out->set_details_json(entry.event.details);
    out->set_previous_hash(entry.previous_hash);
    out->set_hash(entry.hash);
  }
  // The heads among this page's sequences; on the last page every later
  // one too, so that a head beyond the last entry (a log cut short) shows.
  TESSERA_ASSIGN_OR_RETURN(
      std::vector<AuditHeadRecord> heads,
      store.ListAuditHeads(request.after_sequence(),
                           more ? entries.back().sequence : std::numeric_limits<int64_t>::max()));
  for (const AuditHeadRecord& head : heads) {
    tessera::v1::AuditHeadSignature* out = response.add_head_signatures();
    out->set_sequence(head.sequence);
    out->set_hash(head.hash);
    out->set_signed_unix_ms(absl::ToUnixMillis(head.signed_at));
    out->set_signature(head.signature);
    out->set_certificate_pem(head.certificate_pem);
  }
  response.set_more(more);
  return response;
}

grpc::Status AdminService::ReadAudit(grpc::ServerContext* context,
                                     const tessera::v1::ReadAuditRequest* request,
                                     tessera::v1::ReadAuditResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kGovernance, Role::kAuditor, Role::kOperator},
                               "Admin.ReadAudit");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  auto page = ReadAuditPage(store_, *request);
  if (!page.ok()) return transport::ToGrpcStatus(page.status());
  *response = std::move(*page);
  return grpc::Status::OK;
}

grpc::Status FederationService::GetWork(grpc::ServerContext* context,
                                        const tessera::v1::GetWorkRequest* /*request*/,
                                        tessera::v1::GetWorkResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kSite}, "Federation.GetWork");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  // Answer a little before the caller's deadline so the empty answer
  // arrives rather than a DEADLINE_EXCEEDED.
  const absl::Time now = absl::Now();
  absl::Time deadline = now + kMaxLongPoll;
  const absl::Time caller_deadline = absl::FromChrono(context->deadline());
  if (caller_deadline < deadline + absl::Seconds(1)) deadline = caller_deadline - absl::Seconds(1);
  const std::string serial = identity->serial_hex;
  auto stop = [this, context, &serial] {
    return context->IsCancelled() || revocations_.RevokedAt(serial).has_value();
  };
  switch (mailboxes_.Take(identity->id, deadline, stop, response)) {
    case Mailboxes::WaitEnd::kWork:
    case Mailboxes::WaitEnd::kDeadline:
      return grpc::Status::OK;
    case Mailboxes::WaitEnd::kStopped:
      break;
  }
  // Re-admit to report the reason: revoked, or shutting down.
  auto again = guard_.Admit(*context, {Role::kSite}, "Federation.GetWork");
  if (!again.ok()) return transport::ToGrpcStatus(again.status());
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down; retry");
}

namespace {

// The receipt sent with `submission` by `site`, checked only for where it is
// filed (governance::CheckReceiptFiling: a site files only its own receipt,
// for the round the submission is for, and only with a masked input). The
// report, not the coordinator, is the authority on its signature and
// certificate; a signature that does not verify is logged here and the
// receipt kept for the report to flag. INVALID_ARGUMENT when refused.
absl::StatusOr<ReceiptRecord> ReceiptToFile(const tessera::v1::StageSubmission& submission,
                                            const std::string& site, absl::Time now) {
  const tessera::v1::RoundRef& ref = submission.round();
  const governance::ReceiptFiling filing{ref.job_id(), ref.round(), ref.attempt(), site};
  if (ref.stage() != tessera::v1::STAGE_MASKED_INPUT || submission.has_refusal()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the receipt of site `", site, "` for job `", ref.job_id(), "` round ",
                     ref.round(), " came with ", tessera::v1::Stage_Name(ref.stage()),
                     submission.has_refusal() ? " (a refusal)" : "",
                     "; a receipt travels only with the masked input of a training round"));
  }
  TESSERA_RETURN_IF_ERROR(governance::CheckReceiptFiling(submission.receipt(), filing).status());
  absl::Status signature = governance::VerifyReceiptSignature(submission.receipt(), filing);
  if (!signature.ok()) {
    Logger("rounds")->warn(
        "receipt kept for the report although its signature does not verify site={} job={} "
        "round={} attempt={} reason=\"{}\"",
        site, ref.job_id(), ref.round(), ref.attempt(), std::string(signature.message()));
  }
  ReceiptRecord record;
  record.job_id = ref.job_id();
  record.round = ref.round();
  record.attempt = ref.attempt();
  record.site_id = site;
  record.receipt = submission.receipt().receipt();
  record.signature = submission.receipt().signature();
  record.certificate_pem = submission.receipt().certificate_pem();
  record.received_at = now;
  return record;
}

}  // namespace

grpc::Status FederationService::SubmitStage(grpc::ServerContext* context,
                                            const tessera::v1::StageSubmission* request,
                                            tessera::v1::StageSubmissionResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kSite}, "Federation.SubmitStage");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  // A receipt that is not this site's own, for this round, refuses the
  // whole submission before the runner sees it.
  std::optional<ReceiptRecord> receipt;
  if (request->has_receipt()) {
    auto checked = ReceiptToFile(*request, identity->id, clock_.Now());
    if (!checked.ok()) {
      Logger("rounds")->warn(
          "stage submission refused site={} job={} round={} stage={} "
          "reason=\"{}\"",
          identity->id, request->round().job_id(), request->round().round(),
          tessera::v1::Stage_Name(request->round().stage()),
          std::string(checked.status().message()));
      return transport::ToGrpcStatus(checked.status());
    }
    receipt = *std::move(checked);
  }
  // The inline payload is used where it lies; an uploaded one is read once.
  absl::string_view payload = request->payload();
  std::string uploaded;
  if (request->has_uploaded()) {
    const tessera::v1::ObjectRef& ref = request->uploaded();
    auto size = objects_.Size(ref.sha256_hex());
    if (!size.ok()) return transport::ToGrpcStatus(size.status());
    auto bytes = objects_.Read(ref.sha256_hex(), 0, *size);
    if (!bytes.ok()) return transport::ToGrpcStatus(bytes.status());
    uploaded = std::move(*bytes);
    payload = uploaded;
  }
  auto duplicate = runner_.Submit(identity->id, *request, payload);
  if (!duplicate.ok()) {
    Logger("rounds")->warn("stage submission refused site={} job={} round={} stage={} reason=\"{}\"",
                           identity->id, request->round().job_id(), request->round().round(),
                           tessera::v1::Stage_Name(request->round().stage()),
                           std::string(duplicate.status().message()));
    return transport::ToGrpcStatus(duplicate.status());
  }
  // Stored once the runner has the masked input it describes, so the store
  // holds receipts of inputs the coordinator received; a retried submission
  // stores nothing new.
  if (receipt.has_value()) {
    auto stored = store_.AddReceipt(*receipt);
    if (!stored.ok()) {
      Logger("rounds")->error("receipt not stored site={} job={} round={} attempt={} error=\"{}\"",
                              identity->id, receipt->job_id, receipt->round, receipt->attempt,
                              std::string(stored.status().message()));
      return transport::ToGrpcStatus(stored.status());
    }
    if (!*stored) {
      Logger("rounds")->info("receipt stored site={} job={} round={} attempt={}", identity->id,
                             receipt->job_id, receipt->round, receipt->attempt);
    }
  }
  response->set_duplicate(*duplicate);
  return grpc::Status::OK;
}

grpc::Status FederationService::Upload(grpc::ServerContext* context,
                                       grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                                       tessera::v1::UploadResponse* response) {
  auto identity = guard_.Admit(*context, {Role::kSite}, "Federation.Upload");
  if (!identity.ok()) return transport::ToGrpcStatus(identity.status());
  return ReceiveAndLog(objects_, identity->id, reader, response);
}

}  // namespace tessera::coordinator
