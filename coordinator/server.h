// The running coordinator: one gRPC server with mutual TLS hosting the
// Federation and Admin services.
//
// Thread-safety: Start/Shutdown from one thread; port() from any.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/services.h"
#include "coordinator/site_registry.h"

namespace tessera::coordinator {

class CoordinatorServer {
 public:
  // Builds the services and starts listening on config.listen_address.
  // UNAVAILABLE when the address cannot be bound; errors from loading the
  // TLS files otherwise.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorConfig& config,
                                                                   const Clock& clock);
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;
  ~CoordinatorServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

  // Stops accepting calls and waits up to `grace` for calls in flight.
  void Shutdown(absl::Duration grace);

 private:
  CoordinatorServer(const CoordinatorConfig& config, const Clock& clock);

  SiteRegistry registry_;
  FederationService federation_;
  AdminService admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tessera::coordinator
