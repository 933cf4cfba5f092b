#include "coordinator/server.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "nlohmann/json.hpp"
#include "transport/tls.h"

namespace tessera::coordinator {
namespace {

// Agents are asked to report this often; the liveness window is larger.
constexpr absl::Duration kHeartbeatInterval = absl::Seconds(10);
// Largest message the server accepts; bigger objects travel in chunks.
constexpr int kMaxMessageBytes = 16 * 1024 * 1024;
// gRPC's buffers for all connections together. Without a quota each
// connection keeps read buffers sized to its largest message (a masked
// input), so the coordinator's memory grew with the number of sites rather
// than staying O(d); reads wait for room instead.
constexpr size_t kServerMemoryQuota = 128u * 1024 * 1024;
constexpr absl::Duration kRevocationPollInterval = absl::Seconds(2);

}  // namespace

CoordinatorServer::CoordinatorServer(
    const CoordinatorConfig& config, std::string ca_cert_pem, std::unique_ptr<Store> store,
    std::unique_ptr<ObjectStore> objects,
    std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator,
    std::unique_ptr<AuditSigner> signer, const Clock& clock)
    : clock_(clock),
      crl_file_(config.crl_file),
      store_(std::move(store)),
      objects_(std::move(objects)),
      signer_(std::move(signer)),
      revocations_(ca_cert_pem, config.crl_file),
      limiter_(clock, config.requests_per_second, config.burst),
      sessions_(clock, [this](const transport::PeerIdentity& person,
                              absl::string_view method) { RecordLogin(person, method); }),
      guard_(revocations_, limiter_, &sessions_),
      registry_(clock, config.liveness_window),
      runner_(*store_, *objects_, mailboxes_, registry_, revocations_, std::move(authenticator),
              clock, JobRunnerOptions{config.keep_checkpoints}),
      federation_(guard_, registry_, *store_, *objects_, mailboxes_, revocations_, runner_, clock,
                  std::min(kHeartbeatInterval, config.liveness_window / 3)),
      admin_(guard_, registry_, *store_, revocations_, *objects_, runner_, std::move(ca_cert_pem),
             clock) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(absl::Seconds(1)); }

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const CoordinatorConfig& config, const Clock& clock) {
  TESSERA_ASSIGN_OR_RETURN(auto credentials, transport::MakeServerCredentials(config.tls));
  TESSERA_ASSIGN_OR_RETURN(std::string ca_cert_pem,
                           ReadFileToString(config.tls.ca_file, "CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(auto objects,
                           ObjectStore::Open(config.state_dir, config.max_object_bytes));
  TESSERA_ASSIGN_OR_RETURN(auto store, Store::Open(config.state_dir + "/coordinator.db"));
  TESSERA_ASSIGN_OR_RETURN(auto signer, AuditSigner::FromFiles(*store, clock, config.tls.cert_file,
                                                               config.tls.key_file));
  // Checks the sites' certificates inside secure aggregation (signed keys).
  TESSERA_ASSIGN_OR_RETURN(auto authenticator,
                           crypto::secagg::PeerAuthenticator::Create({ca_cert_pem, "site"}));
  std::unique_ptr<CoordinatorServer> server(
      new CoordinatorServer(config, std::move(ca_cert_pem), std::move(store), std::move(objects),
                            std::move(authenticator), std::move(signer), clock));
  // A revocation list that exists but cannot be used is fatal at start-up:
  // serving without it could admit revoked sites.
  TESSERA_RETURN_IF_ERROR(server->revocations_.ReloadIfChanged());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, credentials, &server->port_);
  // gRPC sets SO_REUSEPORT on its listening sockets by default and clones
  // them; with port 0 the clones get ports of their own (a second,
  // unannounced listener), and with any port another process of the same
  // user could bind it too and be handed some of the connections. One
  // socket, exclusively ours.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&server->federation_);
  builder.RegisterService(&server->admin_);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  grpc::ResourceQuota quota("tessera-coordinator");
  quota.Resize(kServerMemoryQuota);
  builder.SetResourceQuota(quota);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on `", config.listen_address,
        "`; is another process using the port, or is the address not on this machine?"));
  }
  server->poller_ = std::thread([raw = server.get()] { raw->PollRevocations(); });
  server->runner_.Start();
  // Signs the head as found at start-up, then as it moves.
  server->signer_->Start();
  return server;
}

void CoordinatorServer::RecordLogin(const transport::PeerIdentity& person,
                                    absl::string_view method) {
  const std::string role(transport::RoleName(person.role));
  auto entry = store_->AppendAudit(
      {clock_.Now(), person.id, role, "login", person.id,
       nlohmann::json{{"serial", person.serial_hex}, {"first_call", std::string(method)}}.dump()});
  if (!entry.ok()) {
    Logger("coordinator")
        ->error("audit entry not written action=login caller={} error=\"{}\"", person.id,
                std::string(entry.status().message()));
    return;
  }
  Logger("coordinator")
      ->info("login caller={} role={} method={}", person.id, role, std::string(method));
}

absl::Status CoordinatorServer::ReloadRevocations() {
  // The poller and SIGHUP may reload at once: one count comparison at a time.
  absl::MutexLock lock(&reload_mutex_);
  const size_t before = revocations_.size();
  TESSERA_RETURN_IF_ERROR(revocations_.ReloadIfChanged());
  const size_t after = revocations_.size();
  // A list published with `tessera pki revoke --coordinator` is audited
  // when it arrives (and then written to the file, which this reads again
  // without a change in count); a list copied to the file is audited here.
  if (after != before) {
    auto entry = store_->AppendAudit(
        {clock_.Now(), "coordinator", "coordinator", "revocations.reloaded", "crl",
         nlohmann::json{{"revoked", after}, {"before", before}, {"file", crl_file_}}.dump()});
    if (!entry.ok()) {
      Logger("coordinator")
          ->error("audit entry not written action=revocations.reloaded error=\"{}\"",
                  std::string(entry.status().message()));
    }
  }
  return absl::OkStatus();
}

void CoordinatorServer::PollRevocations() {
  auto log = Logger("coordinator");
  while (!stop_polling_.WaitForNotificationWithTimeout(kRevocationPollInterval)) {
    absl::Status status = ReloadRevocations();
    if (!status.ok()) log->error("revocation list not reloaded: {}", std::string(status.message()));
    // Long polls re-check their site's certificate against the list.
    mailboxes_.Interrupt();
  }
}

void CoordinatorServer::Shutdown(absl::Duration grace) {
  if (poller_.joinable()) {
    stop_polling_.Notify();
    poller_.join();
  }
  if (server_ != nullptr) {
    runner_.Stop();
    mailboxes_.Close();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    server_.reset();
  }
  // After the last call and round: the final head covers them.
  signer_->Stop();
}

}  // namespace tessera::coordinator
