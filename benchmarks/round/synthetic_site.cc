#include "benchmarks/round/synthetic_site.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/job/capabilities.h"
#include "coordinator/job/job_json.h"
#include "coordinator/job/round_id.h"
#include "grpcpp/grpcpp.h"
#include "transport/object_transfer.h"
#include "transport/peer.h"

namespace tessera::loadgen {

namespace secagg = crypto::secagg;
using agent::SecAggInput;
using agent::SecAggSession;

namespace {

// The agent's values (agent/task_runner.cc, agent/coordinator_link.cc).
constexpr absl::Duration kLongPoll = absl::Seconds(30);
constexpr absl::Duration kCallDeadline = absl::Seconds(30);
constexpr absl::Duration kTransferDeadline = absl::Seconds(120);
constexpr absl::Duration kHeartbeatDeadline = absl::Seconds(10);
constexpr size_t kInlinePayloadBytes = 8u << 20;
// How long a site waits at the --burst barrier for the others.
constexpr absl::Duration kBurstTimeout = absl::Minutes(10);

std::string KeyOf(const tessera::v1::RoundRef& ref) {
  return absl::StrCat(ref.job_id(), "/", ref.round(), "/", ref.attempt());
}

std::optional<SecAggInput> InputOf(tessera::v1::Stage stage) {
  switch (stage) {
    case tessera::v1::STAGE_SHARE_KEYS:
      return SecAggInput::kKeyList;
    case tessera::v1::STAGE_MASKED_INPUT:
      return SecAggInput::kShareRelay;
    case tessera::v1::STAGE_CONSISTENCY_CHECK:
      return SecAggInput::kSurvivorSet;
    case tessera::v1::STAGE_UNMASK:
      return SecAggInput::kUnmaskRequest;
    default:
      return std::nullopt;
  }
}

// The site's own channel. gRPC would otherwise let channels with equal
// arguments share one connection (its global subchannel pool); each site
// here must have a TLS connection of its own, as separate agents do.
absl::StatusOr<std::shared_ptr<grpc::Channel>> SiteChannel(const std::string& address,
                                                           const transport::TlsFiles& files) {
  TESSERA_ASSIGN_OR_RETURN(auto credentials, transport::MakeChannelCredentials(files));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(address, credentials, args);
}

}  // namespace

struct SyntheticSite::Round {
  tessera::v1::Task task;
  std::shared_ptr<const RoundCodec> codec;
  std::unique_ptr<SecAggSession> session;
  tessera::v1::Stage last_stage = tessera::v1::STAGE_ADVERTISE_KEYS;
};

SyntheticSite::SyntheticSite(const SiteShared& shared, std::string site_id,
                             std::string certificate_pem, std::unique_ptr<crypto::Signer> signer,
                             std::unique_ptr<tessera::v1::Federation::Stub> stub)
    : shared_(shared),
      site_id_(std::move(site_id)),
      certificate_pem_(std::move(certificate_pem)),
      signer_(std::move(signer)),
      stub_(std::move(stub)) {}

SyntheticSite::~SyntheticSite() = default;

absl::StatusOr<std::unique_ptr<SyntheticSite>> SyntheticSite::Create(
    const transport::TlsFiles& files, const SiteShared& shared) {
  TESSERA_ASSIGN_OR_RETURN(std::string certificate_pem,
                           ReadFileToString(files.cert_file, "site certificate"));
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem,
                           ReadFileToString(files.key_file, "site private key"));
  auto signer = crypto::PrivateKeySigner::FromPem(key_pem);
  std::fill(key_pem.begin(), key_pem.end(), '\0');
  if (!signer.ok()) return Annotate(signer.status(), files.key_file);
  TESSERA_ASSIGN_OR_RETURN(transport::PeerIdentity identity,
                           transport::IdentityFromCertificatePem(certificate_pem));
  TESSERA_ASSIGN_OR_RETURN(auto channel, SiteChannel(shared.coordinator_address, files));
  return std::unique_ptr<SyntheticSite>(
      new SyntheticSite(shared, identity.id, std::move(certificate_pem), std::move(*signer),
                        tessera::v1::Federation::NewStub(channel)));
}

absl::StatusOr<absl::Duration> SyntheticSite::SendHeartbeat() {
  tessera::v1::HeartbeatRequest request;
  request.mutable_info()->set_agent_version("tessera-loadgen");
  request.mutable_info()->set_hostname(site_id_);
  tessera::v1::DatasetInfo* dataset = request.mutable_info()->add_datasets();
  dataset->set_name(shared_.dataset);
  dataset->set_record_count_bucket(shared_.record_count_bucket);
  // What this release's agent offers: the sites speak its round protocol.
  for (const std::string& capability : coordinator::AgentCapabilities()) {
    request.mutable_info()->add_capabilities(capability);
  }
  request.set_sequence(++heartbeat_sequence_);
  request.set_agent_time_unix_ms(absl::ToUnixMillis(absl::Now()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kHeartbeatDeadline));
  tessera::v1::HeartbeatResponse response;
  grpc::Status status = stub_->Heartbeat(&context, request, &response);
  if (!status.ok()) {
    return Annotate(transport::FromGrpcStatus(status), absl::StrCat("heartbeat of ", site_id_));
  }
  return absl::Milliseconds(response.next_heartbeat_ms());
}

void SyntheticSite::Run(const absl::Notification& stop) {
  while (!stop.HasBeenNotified()) {
    tessera::v1::GetWorkRequest request;
    for (const auto& [key, round] : rounds_) {
      tessera::v1::RoundRef* ref = request.add_in_progress();
      *ref = round->task.round();
      ref->set_stage(round->last_stage);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kLongPoll));
    tessera::v1::GetWorkResponse work;
    grpc::Status status = stub_->GetWork(&context, request, &work);
    if (!status.ok()) {
      if (stop.HasBeenNotified()) break;
      const absl::Status error = transport::FromGrpcStatus(status);
      if (error.code() == absl::StatusCode::kPermissionDenied ||
          error.code() == absl::StatusCode::kUnauthenticated) {
        shared_.stats->AddError(
            absl::StrCat(site_id_, ": refused by the coordinator: ", error.message()));
        return;
      }
      if (error.code() != absl::StatusCode::kDeadlineExceeded) {
        stop.WaitForNotificationWithTimeout(absl::Milliseconds(200));
      }
      continue;
    }
    const auto sent = static_cast<uint64_t>(request.ByteSizeLong());
    const auto received = static_cast<uint64_t>(work.ByteSizeLong());
    if (work.has_task()) {
      shared_.stats->MarkTask(work.task().round().round());
      shared_.stats->MarkStage(work.task().round().round(), tessera::v1::STAGE_TRAIN);
      shared_.stats->AddTraffic(work.task().round().round(), sent, received);
      HandleTask(work.task());
    } else if (work.has_stage_input()) {
      shared_.stats->AddTraffic(work.stage_input().round().round(), sent, received);
      shared_.stats->MarkStage(work.stage_input().round().round(),
                               work.stage_input().round().stage());
      HandleStageInput(work.stage_input());
    } else if (work.has_aborted()) {
      shared_.stats->AddTraffic(work.aborted().round().round(), sent, received);
      if (rounds_.erase(KeyOf(work.aborted().round())) > 0) {
        shared_.stats->AddError(
            absl::StrCat(site_id_, ": round ", work.aborted().round().round(),
                         " aborted by the coordinator: ", work.aborted().reason()));
      }
    }
  }
}

absl::StatusOr<std::string> SyntheticSite::Fetch(const tessera::v1::ObjectRef& ref,
                                                 uint32_t round) {
  TESSERA_ASSIGN_OR_RETURN(
      std::string bytes,
      transport::DownloadObject(
          [this](grpc::ClientContext* context, const tessera::v1::DownloadRequest& request) {
            return stub_->Download(context, request);
          },
          ref, kTransferDeadline));
  tessera::v1::DownloadRequest request;
  request.set_sha256_hex(ref.sha256_hex());
  shared_.stats->AddTraffic(round, request.ByteSizeLong(), bytes.size(), bytes.size());
  return bytes;
}

void SyntheticSite::Fail(const tessera::v1::RoundRef& ref, const std::string& what,
                         const absl::Status& status) {
  shared_.stats->AddError(absl::StrCat(site_id_, " round ", ref.round(), " attempt ", ref.attempt(),
                                       " ", tessera::v1::Stage_Name(ref.stage()), ": ", what, ": ",
                                       status.message()));
}

void SyntheticSite::Refuse(const tessera::v1::RoundRef& ref, const std::string& message) {
  tessera::v1::StageSubmission submission;
  *submission.mutable_round() = ref;
  submission.mutable_refusal()->set_reason(tessera::v1::Refusal::INTERNAL_ERROR);
  submission.mutable_refusal()->set_message(message);
  Submit(submission).IgnoreError();  // the failure itself is already counted
}

absl::Status SyntheticSite::Submit(const tessera::v1::StageSubmission& submission) {
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
    tessera::v1::StageSubmissionResponse response;
    grpc::Status status = stub_->SubmitStage(&context, submission, &response);
    shared_.stats->AddTraffic(submission.round().round(), submission.ByteSizeLong(),
                              status.ok() ? response.ByteSizeLong() : 0);
    if (status.ok()) return absl::OkStatus();
    last = transport::FromGrpcStatus(status);
    if (last.code() != absl::StatusCode::kUnavailable &&
        last.code() != absl::StatusCode::kDeadlineExceeded) {
      break;
    }
  }
  return last;
}

absl::Status SyntheticSite::Send(const tessera::v1::RoundRef& ref,
                                 const std::vector<uint8_t>& payload) {
  tessera::v1::StageSubmission submission;
  *submission.mutable_round() = ref;
  const absl::string_view bytes(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (payload.size() > kInlinePayloadBytes) {
    TESSERA_ASSIGN_OR_RETURN(
        tessera::v1::UploadResponse uploaded,
        transport::UploadObject(
            [this](grpc::ClientContext* context, tessera::v1::UploadResponse* response) {
              return stub_->Upload(context, response);
            },
            bytes, &ref, kTransferDeadline));
    shared_.stats->AddTraffic(ref.round(), payload.size(), uploaded.ByteSizeLong());
    *submission.mutable_uploaded() = uploaded.object();
  } else {
    submission.set_payload(bytes.data(), bytes.size());
  }
  return Submit(submission);
}

void SyntheticSite::HandleTask(const tessera::v1::Task& task) {
  const tessera::v1::RoundRef& ref = task.round();
  const std::string key = KeyOf(ref);
  if (rounds_.count(key) > 0) return;  // the same task again
  auto round = std::make_unique<Round>();
  round->task = task;
  absl::Status started = StartRound(task, *round);
  if (!started.ok()) {
    tessera::v1::RoundRef advertise = ref;
    advertise.set_stage(tessera::v1::STAGE_ADVERTISE_KEYS);
    Fail(advertise, "task not started", started);
    Refuse(advertise, std::string(started.message()));
    return;
  }
  rounds_[key] = std::move(round);
}

absl::Status SyntheticSite::StartRound(const tessera::v1::Task& task, Round& round) {
  const tessera::v1::RoundRef& ref = task.round();
  TESSERA_ASSIGN_OR_RETURN(coordinator::JobSpec spec,
                           coordinator::JobSpecFromJson(task.job_json()));
  if (task.round_seed().size() != 32) {
    return absl::InvalidArgumentError("the task's round seed is not 32 bytes");
  }
  std::vector<std::string> participants(task.participants().begin(), task.participants().end());
  if (std::find(participants.begin(), participants.end(), site_id_) == participants.end()) {
    return absl::InvalidArgumentError("this site is not among the task's participants");
  }
  const bool training = task.kind() == tessera::v1::ROUND_KIND_TRAINING;
  if (!training && task.kind() != tessera::v1::ROUND_KIND_STATISTICS) {
    return absl::InvalidArgumentError("the task has no known round kind");
  }
  int64_t dimension = 0;
  if (training) {
    // Downloaded as the agent does, then dropped: nothing trains here.
    Permits::Held transfer(*shared_.transfers);
    TESSERA_RETURN_IF_ERROR(Fetch(task.model(), ref.round()).status());
    TESSERA_ASSIGN_OR_RETURN(std::string parameters, Fetch(task.global_parameters(), ref.round()));
    if (parameters.empty() || parameters.size() % 4 != 0) {
      return absl::InvalidArgumentError(absl::StrCat("the global parameters (", parameters.size(),
                                                     " bytes) are not float32 values"));
    }
    dimension = static_cast<int64_t>(parameters.size() / 4);
  }
  TESSERA_ASSIGN_OR_RETURN(round.codec,
                           shared_.contribution->CodecFor(ref.job_id(), spec, training, dimension));

  const secagg::RoundParameters parameters =
      coordinator::SecAggParameters(spec, ref.job_id(), ref.round(), ref.attempt(), participants,
                                    task.round_seed(), round.codec->codec.word_count());
  std::vector<uint8_t> keys;
  {
    Permits::Held busy(*shared_.compute);
    secagg::ClientConfig config{parameters, site_id_, certificate_pem_, shared_.authenticator,
                                absl::Now()};
    TESSERA_ASSIGN_OR_RETURN(auto client, secagg::Client::Create(config, *signer_));
    round.session = std::make_unique<SecAggSession>(std::move(client));
    TESSERA_ASSIGN_OR_RETURN(keys, round.session->Start());
  }
  tessera::v1::RoundRef advertise = ref;
  advertise.set_stage(tessera::v1::STAGE_ADVERTISE_KEYS);
  return Send(advertise, keys);
}

void SyntheticSite::HandleStageInput(const tessera::v1::StageInput& input) {
  const tessera::v1::RoundRef& ref = input.round();
  auto it = rounds_.find(KeyOf(ref));
  if (it == rounds_.end()) return;  // a round this site left or never had
  Round& round = *it->second;
  const std::optional<SecAggInput> stage = InputOf(ref.stage());
  if (!stage.has_value()) {
    Fail(ref, "stage input for an unknown stage", absl::InvalidArgumentError("ignored"));
    return;
  }
  round.last_stage = ref.stage();
  std::vector<uint8_t> answer;
  {
    Permits::Held busy(*shared_.compute);
    const auto* bytes = reinterpret_cast<const uint8_t*>(input.payload().data());
    auto handled =
        round.session->Handle(*stage, crypto::ByteSpan(bytes, input.payload().size()), [&round]() {
          return SyntheticContribution::Encode(*round.codec, round.task.round_seed());
        });
    if (!handled.ok()) {
      Fail(ref, "round left", handled.status());
      rounds_.erase(it);
      return;
    }
    answer = std::move(*handled);
  }
  if (ref.stage() == tessera::v1::STAGE_MASKED_INPUT && shared_.burst != nullptr) {
    shared_.burst->Arrive(KeyOf(ref), static_cast<size_t>(round.task.participants_size()),
                          kBurstTimeout);
  }
  absl::Status sent = Send(ref, answer);
  if (!sent.ok()) Fail(ref, "stage message not delivered", sent);
  if (ref.stage() == tessera::v1::STAGE_UNMASK) rounds_.erase(it);
}

}  // namespace tessera::loadgen
