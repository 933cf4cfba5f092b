#include "tests/e2e/hostile_coordinator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/secagg/messages.h"
#include "crypto/sha256.h"
#include "transport/peer.h"

namespace tessera::testing {

namespace secagg = crypto::secagg;
using tessera::v1::Stage;

namespace {

// How long one GetWork call waits for work before answering "nothing yet":
// short, so the agent's loop turns often and a test's queued work is
// picked up at once.
constexpr absl::Duration kPollWait = absl::Milliseconds(300);
constexpr size_t kChunkBytes = 1 << 20;

}  // namespace

class HostileCoordinator::Service final : public tessera::v1::Federation::Service {
 public:
  explicit Service(HostileCoordinator& owner) : owner_(owner) {}

  grpc::Status Heartbeat(grpc::ServerContext* context, const tessera::v1::HeartbeatRequest*,
                         tessera::v1::HeartbeatResponse* response) override {
    absl::StatusOr<transport::PeerIdentity> peer = transport::IdentityFromContext(*context);
    if (!peer.ok()) return transport::ToGrpcStatus(peer.status());
    {
      absl::MutexLock lock(&owner_.mutex_);
      ++owner_.heartbeats_[peer->id];
    }
    response->set_site_id(peer->id);
    response->set_coordinator_time_unix_ms(absl::ToUnixMillis(absl::Now()));
    response->set_next_heartbeat_ms(1000);
    return grpc::Status::OK;
  }

  grpc::Status GetWork(grpc::ServerContext* context, const tessera::v1::GetWorkRequest*,
                       tessera::v1::GetWorkResponse* response) override {
    absl::StatusOr<transport::PeerIdentity> peer = transport::IdentityFromContext(*context);
    if (!peer.ok()) return transport::ToGrpcStatus(peer.status());
    const std::string site = peer->id;
    absl::MutexLock lock(&owner_.mutex_);
    ++owner_.polls_[site];
    auto has_work = [this, &site]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner_.mutex_) {
      return !owner_.work_[site].empty();
    };
    owner_.mutex_.AwaitWithTimeout(absl::Condition(&has_work), kPollWait);
    if (!owner_.work_[site].empty()) {
      *response = std::move(owner_.work_[site].front());
      owner_.work_[site].pop_front();
    }
    return grpc::Status::OK;
  }

  grpc::Status SubmitStage(grpc::ServerContext* context,
                           const tessera::v1::StageSubmission* submission,
                           tessera::v1::StageSubmissionResponse*) override {
    absl::StatusOr<transport::PeerIdentity> peer = transport::IdentityFromContext(*context);
    if (!peer.ok()) return transport::ToGrpcStatus(peer.status());
    absl::MutexLock lock(&owner_.mutex_);
    owner_.submissions_[peer->id].push_back(*submission);
    return grpc::Status::OK;
  }

  grpc::Status Download(grpc::ServerContext*, const tessera::v1::DownloadRequest* request,
                        grpc::ServerWriter<tessera::v1::Chunk>* writer) override {
    std::string bytes;
    {
      absl::MutexLock lock(&owner_.mutex_);
      auto it = owner_.objects_.find(request->sha256_hex());
      if (it == owner_.objects_.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such object");
      }
      bytes = it->second;
    }
    size_t offset = std::min<size_t>(request->offset(), bytes.size());
    do {
      const size_t length = std::min(kChunkBytes, bytes.size() - offset);
      tessera::v1::Chunk chunk;
      chunk.set_offset(offset);
      chunk.set_data(bytes.substr(offset, length));
      chunk.set_total_size(bytes.size());
      if (!writer->Write(chunk)) break;
      offset += length;
    } while (offset < bytes.size());
    return grpc::Status::OK;
  }

  grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                      tessera::v1::UploadResponse* response) override {
    tessera::v1::UploadRequest part;
    std::string bytes;
    while (reader->Read(&part)) {
      if (part.has_data()) bytes += part.data();
    }
    response->mutable_object()->set_sha256_hex(crypto::Sha256Hex(bytes));
    response->mutable_object()->set_size_bytes(bytes.size());
    absl::MutexLock lock(&owner_.mutex_);
    owner_.objects_[response->object().sha256_hex()] = bytes;
    owner_.uploads_.push_back(std::move(bytes));
    return grpc::Status::OK;
  }

 private:
  HostileCoordinator& owner_;
};

absl::StatusOr<std::unique_ptr<HostileCoordinator>> HostileCoordinator::Start(
    const transport::TlsFiles& tls) {
  TESSERA_ASSIGN_OR_RETURN(auto credentials, transport::MakeServerCredentials(tls));
  std::unique_ptr<HostileCoordinator> coordinator(new HostileCoordinator());
  coordinator->service_ = std::make_unique<Service>(*coordinator);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", credentials, &coordinator->port_);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  builder.RegisterService(coordinator->service_.get());
  coordinator->server_ = builder.BuildAndStart();
  if (coordinator->server_ == nullptr || coordinator->port_ == 0) {
    return absl::UnavailableError("the hostile coordinator could not listen on 127.0.0.1");
  }
  return coordinator;
}

HostileCoordinator::~HostileCoordinator() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
}

void HostileCoordinator::Give(const std::string& site, tessera::v1::GetWorkResponse work) {
  absl::MutexLock lock(&mutex_);
  work_[site].push_back(std::move(work));
}

void HostileCoordinator::GiveTask(const std::string& site, const tessera::v1::Task& task) {
  tessera::v1::GetWorkResponse work;
  *work.mutable_task() = task;
  Give(site, std::move(work));
}

void HostileCoordinator::GiveStageInput(const std::string& site, const tessera::v1::RoundRef& ref,
                                        const std::vector<uint8_t>& payload) {
  tessera::v1::GetWorkResponse work;
  *work.mutable_stage_input()->mutable_round() = ref;
  work.mutable_stage_input()->set_payload(payload.data(), payload.size());
  work.mutable_stage_input()->set_stage_deadline_unix_ms(
      absl::ToUnixMillis(absl::Now() + absl::Seconds(60)));
  Give(site, std::move(work));
}

tessera::v1::ObjectRef HostileCoordinator::AddObject(const std::string& bytes) {
  tessera::v1::ObjectRef ref;
  ref.set_sha256_hex(crypto::Sha256Hex(bytes));
  ref.set_size_bytes(bytes.size());
  absl::MutexLock lock(&mutex_);
  objects_[ref.sha256_hex()] = bytes;
  return ref;
}

absl::StatusOr<tessera::v1::StageSubmission> HostileCoordinator::WaitForSubmission(
    const std::string& site, size_t index, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto arrived = [this, &site, index]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return submissions_[site].size() > index;
  };
  if (!mutex_.AwaitWithTimeout(absl::Condition(&arrived), timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("site `", site, "` sent no submission number ",
                                                    index, " within ",
                                                    absl::FormatDuration(timeout)));
  }
  return submissions_[site][index];
}

absl::Status HostileCoordinator::WaitForPolls(const std::string& site, int count,
                                              absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto enough = [this, &site, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return polls_[site] >= count;
  };
  if (!mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("site `", site, "` polled ", polls_[site], " times, not ", count));
  }
  return absl::OkStatus();
}

int HostileCoordinator::Polls(const std::string& site) const {
  absl::MutexLock lock(&mutex_);
  auto it = polls_.find(site);
  return it == polls_.end() ? 0 : it->second;
}

absl::Status HostileCoordinator::WaitForHeartbeat(const std::string& site,
                                                  absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto beat = [this, &site]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return heartbeats_[site] > 0;
  };
  if (!mutex_.AwaitWithTimeout(absl::Condition(&beat), timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("no heartbeat from site `", site, "`"));
  }
  return absl::OkStatus();
}

std::vector<tessera::v1::StageSubmission> HostileCoordinator::Submissions(
    const std::string& site) const {
  absl::MutexLock lock(&mutex_);
  auto it = submissions_.find(site);
  return it == submissions_.end() ? std::vector<tessera::v1::StageSubmission>{} : it->second;
}

std::vector<std::string> HostileCoordinator::Uploads() const {
  absl::MutexLock lock(&mutex_);
  return uploads_;
}

// ------------------------------------------------------------ ScriptedRound

absl::StatusOr<std::unique_ptr<ScriptedRound>> ScriptedRound::Create(
    HostileCoordinator& coordinator, const secagg::RoundParameters& parameters,
    const tessera::v1::RoundRef& ref, const std::string& agent_site,
    const std::vector<LocalSite>& local_sites, const std::string& ca_pem) {
  std::unique_ptr<ScriptedRound> round(new ScriptedRound());
  round->coordinator_ = &coordinator;
  round->ref_ = ref;
  round->agent_site_ = agent_site;
  round->parameters_ = parameters;
  TESSERA_ASSIGN_OR_RETURN(auto authenticator, secagg::PeerAuthenticator::Create({ca_pem, "site"}));
  TESSERA_ASSIGN_OR_RETURN(round->server_,
                           secagg::Server::Create({parameters, authenticator, absl::Now()}));
  for (const LocalSite& site : local_sites) {
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<crypto::Signer> signer,
                             crypto::PrivateKeySigner::FromPem(site.key_pem));
    round->signers_.push_back(std::move(signer));
    secagg::ClientConfig config{parameters, site.site_id, site.certificate_pem, authenticator,
                                absl::Now()};
    TESSERA_ASSIGN_OR_RETURN(auto client,
                             secagg::Client::Create(config, *round->signers_.back()));
    TESSERA_ASSIGN_OR_RETURN(secagg::AdvertiseKeys keys, client->Start());
    TESSERA_RETURN_IF_ERROR(round->server_->HandleAdvertiseKeys(site.site_id, keys));
    round->clients_[site.site_id] = std::move(client);
  }
  return round;
}

absl::StatusOr<std::string> ScriptedRound::AgentPayload(size_t index, Stage stage,
                                                        absl::Duration timeout) {
  TESSERA_ASSIGN_OR_RETURN(tessera::v1::StageSubmission submission,
                           coordinator_->WaitForSubmission(agent_site_, index, timeout));
  if (submission.round().stage() != stage || !submission.has_payload()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the agent's submission ", index, " is not a payload for stage ",
                     tessera::v1::Stage_Name(stage), ": ", submission.ShortDebugString()));
  }
  return submission.payload();
}

namespace {

crypto::ByteSpan Bytes(const std::string& payload) {
  return crypto::ByteSpan(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
}

template <typename Message>
absl::StatusOr<Message> ForAgent(std::vector<secagg::Outgoing<Message>>& outgoing,
                                 const std::string& agent_site) {
  for (secagg::Outgoing<Message>& message : outgoing) {
    if (message.site_id == agent_site) return std::move(message.message);
  }
  return absl::NotFoundError(absl::StrCat("the server has nothing for site `", agent_site, "`"));
}

}  // namespace

absl::StatusOr<secagg::KeyList> ScriptedRound::KeyListForAgent(size_t index,
                                                               absl::Duration timeout) {
  TESSERA_ASSIGN_OR_RETURN(std::string payload,
                           AgentPayload(index, tessera::v1::STAGE_ADVERTISE_KEYS, timeout));
  TESSERA_ASSIGN_OR_RETURN(secagg::AdvertiseKeys keys, secagg::ParseAdvertiseKeys(Bytes(payload)));
  TESSERA_RETURN_IF_ERROR(server_->HandleAdvertiseKeys(agent_site_, keys));
  TESSERA_ASSIGN_OR_RETURN(auto outgoing, server_->FinishAdvertiseKeys());
  for (const auto& message : outgoing) {
    auto client = clients_.find(message.site_id);
    if (client == clients_.end()) continue;
    TESSERA_ASSIGN_OR_RETURN(secagg::ShareKeys reply, client->second->HandleKeyList(message.message));
    TESSERA_RETURN_IF_ERROR(server_->HandleShareKeys(message.site_id, reply));
  }
  return ForAgent(outgoing, agent_site_);
}

absl::StatusOr<secagg::ShareRelay> ScriptedRound::ShareRelayForAgent(size_t index,
                                                                     absl::Duration timeout) {
  TESSERA_ASSIGN_OR_RETURN(std::string payload,
                           AgentPayload(index, tessera::v1::STAGE_SHARE_KEYS, timeout));
  TESSERA_ASSIGN_OR_RETURN(secagg::ShareKeys shares, secagg::ParseShareKeys(Bytes(payload)));
  TESSERA_RETURN_IF_ERROR(server_->HandleShareKeys(agent_site_, shares));
  TESSERA_ASSIGN_OR_RETURN(auto outgoing, server_->FinishShareKeys());
  const std::vector<uint32_t> zeros(parameters_.vector_length, 0);
  for (const auto& message : outgoing) {
    auto client = clients_.find(message.site_id);
    if (client == clients_.end()) continue;
    TESSERA_ASSIGN_OR_RETURN(secagg::MaskedInput reply,
                             client->second->HandleShareRelay(message.message, zeros));
    TESSERA_RETURN_IF_ERROR(server_->HandleMaskedInput(message.site_id, reply));
  }
  return ForAgent(outgoing, agent_site_);
}

absl::StatusOr<secagg::SurvivorSet> ScriptedRound::SurvivorSetForAgent(size_t index,
                                                                       absl::Duration timeout) {
  TESSERA_ASSIGN_OR_RETURN(std::string payload,
                           AgentPayload(index, tessera::v1::STAGE_MASKED_INPUT, timeout));
  TESSERA_ASSIGN_OR_RETURN(secagg::MaskedInput masked, secagg::ParseMaskedInput(Bytes(payload)));
  TESSERA_RETURN_IF_ERROR(server_->HandleMaskedInput(agent_site_, masked));
  TESSERA_ASSIGN_OR_RETURN(auto outgoing, server_->FinishMaskedInput());
  for (const auto& message : outgoing) {
    auto client = clients_.find(message.site_id);
    if (client == clients_.end()) continue;
    TESSERA_ASSIGN_OR_RETURN(secagg::ConsistencySignature reply,
                             client->second->HandleSurvivorSet(message.message));
    local_signatures_.push_back({ParticipantOf(message.site_id), reply.signature});
    TESSERA_RETURN_IF_ERROR(server_->HandleConsistencySignature(message.site_id, reply));
  }
  return ForAgent(outgoing, agent_site_);
}

absl::StatusOr<secagg::UnmaskRequest> ScriptedRound::UnmaskRequestForAgent(
    size_t index, absl::Duration timeout) {
  TESSERA_ASSIGN_OR_RETURN(std::string payload,
                           AgentPayload(index, tessera::v1::STAGE_CONSISTENCY_CHECK, timeout));
  TESSERA_ASSIGN_OR_RETURN(secagg::ConsistencySignature signature,
                           secagg::ParseConsistencySignature(Bytes(payload)));
  TESSERA_RETURN_IF_ERROR(server_->HandleConsistencySignature(agent_site_, signature));
  TESSERA_ASSIGN_OR_RETURN(auto outgoing, server_->FinishConsistencyCheck());
  for (const auto& message : outgoing) {
    auto client = clients_.find(message.site_id);
    if (client == clients_.end()) continue;
    TESSERA_ASSIGN_OR_RETURN(secagg::UnmaskShares reply,
                             client->second->HandleUnmaskRequest(message.message));
    TESSERA_RETURN_IF_ERROR(server_->HandleUnmaskShares(message.site_id, reply));
  }
  return ForAgent(outgoing, agent_site_);
}

absl::StatusOr<secagg::AggregateResult> ScriptedRound::Finish(size_t index,
                                                              absl::Duration timeout) {
  TESSERA_ASSIGN_OR_RETURN(std::string payload,
                           AgentPayload(index, tessera::v1::STAGE_UNMASK, timeout));
  TESSERA_ASSIGN_OR_RETURN(secagg::UnmaskShares shares, secagg::ParseUnmaskShares(Bytes(payload)));
  TESSERA_RETURN_IF_ERROR(server_->HandleUnmaskShares(agent_site_, shares));
  return server_->FinishUnmask();
}

void ScriptedRound::Deliver(Stage stage, const std::vector<uint8_t>& payload) {
  tessera::v1::RoundRef ref = ref_;
  ref.set_stage(stage);
  coordinator_->GiveStageInput(agent_site_, ref, payload);
}

secagg::Client& ScriptedRound::local_client(const std::string& site_id) {
  return *clients_.at(site_id);
}

uint32_t ScriptedRound::ParticipantOf(const std::string& site_id) const {
  const auto& participants = parameters_.participants;
  return static_cast<uint32_t>(
      std::find(participants.begin(), participants.end(), site_id) - participants.begin() + 1);
}

}  // namespace tessera::testing
