// A scripted hostile coordinator for end-to-end tests of the agent as the
// guard at its trust's boundary: a real gRPC server on 127.0.0.1 (port 0)
// with mutual TLS under the federation's real coordinator certificate,
// implementing the Federation service, that a real tessera-agent process
// dials. The test decides every piece of work the agent is given (tasks,
// stage inputs) and reads back everything the agent submitted, refusals
// included. Objects (model files, parameters) the test adds are served by
// Download; uploads are kept.
//
// ScriptedRound builds an honest-looking secure-aggregation round around
// the agent with the real coordinator-side state machine
// (crypto/secagg/server.h) and real other sites run in-process (the real
// SecAgg+ client with those sites' own keys from the federation's PKI), so a
// test can tamper with exactly one thing on its way to the agent.
//
// Thread-safety: HostileCoordinator is safe to use from the test's thread
// while gRPC's threads serve the agent (one mutex guards its state);
// ScriptedRound is for the test's thread only.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/server.h"
#include "grpcpp/grpcpp.h"
#include "tessera.grpc.pb.h"
#include "transport/tls.h"

namespace tessera::testing {

class HostileCoordinator {
 public:
  // Serves the Federation service on 127.0.0.1, on a free port, as the
  // party of `tls` (the coordinator's own files).
  static absl::StatusOr<std::unique_ptr<HostileCoordinator>> Start(
      const transport::TlsFiles& tls);
  ~HostileCoordinator();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Queues `work` for the agent of `site`: the answer to one of its next
  // GetWork calls, in order.
  void Give(const std::string& site, tessera::v1::GetWorkResponse work);
  void GiveTask(const std::string& site, const tessera::v1::Task& task);
  void GiveStageInput(const std::string& site, const tessera::v1::RoundRef& ref,
                      const std::vector<uint8_t>& payload);

  // Stores `bytes` for Download and returns its reference.
  tessera::v1::ObjectRef AddObject(const std::string& bytes);

  // Waits up to `timeout` for the `index`-th submission (0-based, in order
  // of arrival) of `site`; DEADLINE_EXCEEDED when it did not come.
  absl::StatusOr<tessera::v1::StageSubmission> WaitForSubmission(const std::string& site,
                                                                 size_t index,
                                                                 absl::Duration timeout);
  // Waits until `site` has called GetWork at least `count` times in all
  // (so it has read everything queued before and is idle again).
  absl::Status WaitForPolls(const std::string& site, int count, absl::Duration timeout);
  int Polls(const std::string& site) const;
  // Waits for the agent of `site` to send a heartbeat.
  absl::Status WaitForHeartbeat(const std::string& site, absl::Duration timeout);

  // Everything `site` submitted so far, and the objects it uploaded.
  std::vector<tessera::v1::StageSubmission> Submissions(const std::string& site) const;
  std::vector<std::string> Uploads() const;

 private:
  class Service;
  HostileCoordinator() = default;

  mutable absl::Mutex mutex_;
  std::map<std::string, std::deque<tessera::v1::GetWorkResponse>> work_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::vector<tessera::v1::StageSubmission>> submissions_
      ABSL_GUARDED_BY(mutex_);
  std::map<std::string, int> polls_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, int> heartbeats_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> uploads_ ABSL_GUARDED_BY(mutex_);

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// One secure-aggregation round between the agent of `agent_site` (a real
// process, reached through a HostileCoordinator) and `local_sites` run in
// this process, driven stage by stage by the test. Each stage's method runs
// the local sites' half and the server's, and returns the message the
// server would send the agent, which the test may alter before Deliver().
class ScriptedRound {
 public:
  struct LocalSite {
    std::string site_id;
    std::string certificate_pem;
    std::string key_pem;
  };
  // `parameters` as the agent derives them from the task (SecAggParameters);
  // `ca_pem` the federation CA. Each local site contributes zeros.
  static absl::StatusOr<std::unique_ptr<ScriptedRound>> Create(
      HostileCoordinator& coordinator, const crypto::secagg::RoundParameters& parameters,
      const tessera::v1::RoundRef& ref, const std::string& agent_site,
      const std::vector<LocalSite>& local_sites, const std::string& ca_pem);

  // Stage by stage: waits for the agent's message of the previous stage
  // (submission number `index`, see WaitForSubmission) and feeds it and the
  // local sites' to the server; returns the server's next message for the
  // agent, serialised, with the others already delivered to the local sites.
  absl::StatusOr<crypto::secagg::KeyList> KeyListForAgent(size_t index, absl::Duration timeout);
  absl::StatusOr<crypto::secagg::ShareRelay> ShareRelayForAgent(size_t index,
                                                                absl::Duration timeout);
  absl::StatusOr<crypto::secagg::SurvivorSet> SurvivorSetForAgent(size_t index,
                                                                  absl::Duration timeout);
  absl::StatusOr<crypto::secagg::UnmaskRequest> UnmaskRequestForAgent(size_t index,
                                                                      absl::Duration timeout);
  // Feeds the agent's UnmaskShares and finishes the round.
  absl::StatusOr<crypto::secagg::AggregateResult> Finish(size_t index, absl::Duration timeout);

  // Sends `payload` to the agent as the input of `stage`.
  void Deliver(tessera::v1::Stage stage, const std::vector<uint8_t>& payload);

  // The local sites' clients, e.g. to take a real signature or key from.
  crypto::secagg::Client& local_client(const std::string& site_id);
  crypto::secagg::Server& server() { return *server_; }
  const crypto::secagg::RoundParameters& parameters() const { return parameters_; }
  uint32_t ParticipantOf(const std::string& site_id) const;
  // The local sites' consistency signatures (over the survivor set the
  // server sent them), once SurvivorSetForAgent has run.
  const std::vector<crypto::secagg::PeerSignature>& local_signatures() const {
    return local_signatures_;
  }

 private:
  ScriptedRound() = default;
  // The agent's payload of submission `index`, which must be for `stage`.
  absl::StatusOr<std::string> AgentPayload(size_t index, tessera::v1::Stage stage,
                                           absl::Duration timeout);

  HostileCoordinator* coordinator_ = nullptr;
  tessera::v1::RoundRef ref_;
  std::string agent_site_;
  crypto::secagg::RoundParameters parameters_;
  std::vector<std::unique_ptr<crypto::Signer>> signers_;
  std::map<std::string, std::unique_ptr<crypto::secagg::Client>> clients_;
  std::vector<crypto::secagg::PeerSignature> local_signatures_;
  std::unique_ptr<crypto::secagg::Server> server_;
};

}  // namespace tessera::testing
