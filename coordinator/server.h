// The running coordinator: one gRPC server with mutual TLS hosting the
// Federation and Admin services, the people's sessions (a "login" audit
// entry each) and the signer of the audit chain's head.
//
// Thread-safety: Start/Shutdown from one thread; port() from any.
#pragma once

#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/audit_signer.h"
#include "coordinator/call_guard.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/job_runner.h"
#include "coordinator/mailboxes.h"
#include "coordinator/object_store.h"
#include "coordinator/revocations.h"
#include "coordinator/services.h"
#include "coordinator/store.h"
#include "coordinator/site_registry.h"

namespace tessera::coordinator {

class CoordinatorServer {
 public:
  // Loads the revocation list, builds the services, signs the audit
  // chain's head and starts listening on config.listen_address, with the
  // standard gRPC health service. UNAVAILABLE when the address cannot be
  // bound; errors from loading the TLS files (INVALID_ARGUMENT when the
  // certificate is not a coordinator certificate: it signs the audit log)
  // or the revocation list otherwise.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorConfig& config,
                                                                   const Clock& clock);
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;
  ~CoordinatorServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

  // Reloads the revocation list file if it changed (also polled every two
  // seconds); a list that revokes a different number of certificates is
  // written to the audit log. Errors say which file and why; the list in
  // force stays.
  absl::Status ReloadRevocations();

  // Stops accepting calls, waits up to `grace` for calls in flight, and
  // signs the audit chain's head a last time.
  void Shutdown(absl::Duration grace);

 private:
  CoordinatorServer(const CoordinatorConfig& config, std::string ca_cert_pem,
                    std::unique_ptr<Store> store, std::unique_ptr<ObjectStore> objects,
                    std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator,
                    std::unique_ptr<AuditSigner> signer, const Clock& clock);
  void PollRevocations();
  // Appends the "login" audit entry of a person's first call in a while.
  void RecordLogin(const transport::PeerIdentity& person, absl::string_view method);

  const Clock& clock_;
  const std::string crl_file_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<AuditSigner> signer_;
  Revocations revocations_;
  Mailboxes mailboxes_;
  RateLimiter limiter_;
  Sessions sessions_;
  CallGuard guard_;
  SiteRegistry registry_;
  JobRunner runner_;
  FederationService federation_;
  AdminService admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex reload_mutex_;
  absl::Notification stop_polling_;
  std::thread poller_;
};

}  // namespace tessera::coordinator
