#include "agent/coordinator_link.h"

#include <unistd.h>

#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/enrollment.h"
#include "common/logging.h"
#include "common/status.h"
#include "coordinator/job/capabilities.h"
#include "grpcpp/grpcpp.h"
#include "tessera/version.h"
#include "transport/peer.h"
#include "transport/tls.h"

namespace tessera::agent {
namespace {

constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr absl::Duration kBackoffInitial = absl::Seconds(1);

std::string Hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

}  // namespace

CoordinatorLink::CoordinatorLink(const AgentConfig& config,
                                 std::unique_ptr<tessera::v1::Federation::Stub> stub)
    : config_(config),
      stub_(std::move(stub)),
      backoff_(std::min(kBackoffInitial, config.retry_max), config.retry_max, std::random_device{}()) {}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeCoordinatorChannel(const AgentConfig& config) {
  TESSERA_ASSIGN_OR_RETURN(auto credentials, transport::MakeChannelCredentials(config.tls));
  grpc::ChannelArguments args;
  // Keep the connection alive through proxies and NAT that drop idle flows.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  // gRPC's own reconnection backoff grows to two minutes by default, during
  // which calls fail at once with the last connection error even when the
  // coordinator is back; bound it by the agent's retry_max.
  const int max_backoff_ms = static_cast<int>(absl::ToInt64Milliseconds(config.retry_max));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  // Stage inputs and model chunks come in messages of up to 16 MiB.
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(config.coordinator_address, credentials, args);
}

absl::StatusOr<std::unique_ptr<CoordinatorLink>> CoordinatorLink::Create(
    const AgentConfig& config, std::shared_ptr<grpc::Channel> channel) {
  return std::unique_ptr<CoordinatorLink>(
      new CoordinatorLink(config, tessera::v1::Federation::NewStub(channel)));
}

absl::StatusOr<tessera::v1::HeartbeatResponse> CoordinatorLink::SendHeartbeat() {
  tessera::v1::HeartbeatRequest request;
  request.mutable_info()->set_agent_version(kVersion);
  request.mutable_info()->set_hostname(Hostname());
  for (const DatasetInventory& dataset : inventory_) {
    tessera::v1::DatasetInfo* info = request.mutable_info()->add_datasets();
    info->set_name(dataset.name);
    info->set_record_count_bucket(dataset.record_count_bucket);
  }
  for (const std::string& capability : coordinator::AgentCapabilities()) {
    request.mutable_info()->add_capabilities(capability);
  }
  request.set_sequence(++sequence_);
  request.set_agent_time_unix_ms(absl::ToUnixMillis(absl::Now()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  tessera::v1::HeartbeatResponse response;
  grpc::Status status = stub_->Heartbeat(&context, request, &response);
  if (!status.ok()) return transport::FromGrpcStatus(status);
  return response;
}

absl::Status CoordinatorLink::Run(absl::Notification& stop) {
  auto log = Logger("agent");
  bool connected = false;
  while (!stop.HasBeenNotified()) {
    const absl::Time now = absl::Now();
    if (certificate_expires_ - now < kExpiryWarning &&
        now - last_expiry_warning_ >= absl::Hours(24)) {
      last_expiry_warning_ = now;
      log->warn("certificate expires soon expires={} days_left={} fix=\"run tessera-agent enroll "
                "with a new key path and ask the operator to sign the request\"",
                absl::FormatTime("%Y-%m-%d", certificate_expires_, absl::UTCTimeZone()),
                absl::ToInt64Hours(certificate_expires_ - now) / 24);
    }
    absl::StatusOr<tessera::v1::HeartbeatResponse> response = SendHeartbeat();
    absl::Duration wait;
    if (response.ok()) {
      if (!connected) {
        log->info("connected coordinator={} site={}", config_.coordinator_address,
                  response->site_id());
        connected = true;
      }
      backoff_.Reset();
      wait = config_.heartbeat_interval;
      if (response->next_heartbeat_ms() > 0) {
        wait = std::min(wait, absl::Milliseconds(response->next_heartbeat_ms()));
      }
      log->debug("heartbeat answered coordinator={} sequence={} next_in={}",
                 config_.coordinator_address, sequence_, absl::FormatDuration(wait));
    } else {
      const absl::StatusCode code = response.status().code();
      if (code == absl::StatusCode::kPermissionDenied ||
          code == absl::StatusCode::kUnauthenticated) {
        return Annotate(response.status(),
                        absl::StrCat("coordinator ", config_.coordinator_address,
                                     " refused this agent"));
      }
      wait = backoff_.NextDelay();
      log->warn("coordinator unreachable coordinator={} attempt={} retry_in={} error=\"{}\"",
                config_.coordinator_address, backoff_.attempt(), absl::FormatDuration(wait),
                std::string(response.status().message()));
      connected = false;
    }
    stop.WaitForNotificationWithTimeout(wait);
  }
  return absl::OkStatus();
}

}  // namespace tessera::agent
