#include "coordinator/server.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "grpcpp/grpcpp.h"
#include "transport/tls.h"

namespace tessera::coordinator {
namespace {

// Agents are asked to report this often; the liveness window is larger.
constexpr absl::Duration kHeartbeatInterval = absl::Seconds(10);
// Largest message the server accepts; bigger objects travel in chunks.
constexpr int kMaxMessageBytes = 16 * 1024 * 1024;

}  // namespace

CoordinatorServer::CoordinatorServer(const CoordinatorConfig& config, const Clock& clock)
    : registry_(clock, config.liveness_window),
      federation_(registry_, clock, std::min(kHeartbeatInterval, config.liveness_window / 3)),
      admin_(registry_, clock) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(absl::Seconds(1)); }

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const CoordinatorConfig& config, const Clock& clock) {
  TESSERA_ASSIGN_OR_RETURN(auto credentials, transport::MakeServerCredentials(config.tls));
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer(config, clock));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, credentials, &server->port_);
  builder.RegisterService(&server->federation_);
  builder.RegisterService(&server->admin_);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on `", config.listen_address,
        "`; is another process using the port, or is the address not on this machine?"));
  }
  return server;
}

void CoordinatorServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  server_.reset();
}

}  // namespace tessera::coordinator
