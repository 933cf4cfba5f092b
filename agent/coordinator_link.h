// The agent's connection to the coordinator: it dials out over mutual TLS,
// sends heartbeats with a deadline, and reconnects with backoff and jitter
// when the coordinator cannot be reached. It never listens on the network.
//
// Thread-safety: Run() blocks on the calling thread until `stop` is
// notified; nothing else is shared.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/backoff.h"
#include "agent/inventory.h"
#include "tessera.grpc.pb.h"

namespace tessera::agent {

// The channel to the coordinator (mutual TLS, keepalive, reconnection
// bounded by retry_max). The agent makes ONE and shares it between the
// heartbeat and work loops: with two channels to the same coordinator,
// gRPC 1.51 kept failing calls with the stale connection error after a
// coordinator that was down at start-up came up.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeCoordinatorChannel(const AgentConfig& config);

class CoordinatorLink {
 public:
  // Heartbeats over `channel` (MakeCoordinatorChannel; no traffic yet).
  static absl::StatusOr<std::unique_ptr<CoordinatorLink>> Create(
      const AgentConfig& config, std::shared_ptr<grpc::Channel> channel);

  // Sends heartbeats until `stop` is notified. Returns OK on stop; returns
  // PERMISSION_DENIED or UNAUTHENTICATED at once when the coordinator refuses
  // this agent's certificate (retrying cannot help).
  absl::Status Run(absl::Notification& stop);

  // The datasets reported with every heartbeat.
  void SetInventory(std::vector<DatasetInventory> inventory) { inventory_ = std::move(inventory); }

  // From then on, Run() logs a warning once a day when the certificate
  // expires within kExpiryWarning (30 days).
  void WarnBeforeExpiry(absl::Time not_after) { certificate_expires_ = not_after; }

  // Sends one heartbeat and returns the coordinator's answer.
  absl::StatusOr<tessera::v1::HeartbeatResponse> SendHeartbeat();

 private:
  CoordinatorLink(const AgentConfig& config, std::unique_ptr<tessera::v1::Federation::Stub> stub);

  AgentConfig config_;
  std::unique_ptr<tessera::v1::Federation::Stub> stub_;
  Backoff backoff_;
  uint64_t sequence_ = 0;
  std::vector<DatasetInventory> inventory_;
  absl::Time certificate_expires_ = absl::InfiniteFuture();
  absl::Time last_expiry_warning_ = absl::InfinitePast();
};

}  // namespace tessera::agent
