// One lightweight site of the load generator: what tessera-agent does over
// the wire, without data or training.
//
// Each site has its own certificate and key and its own gRPC channel (a
// mutual-TLS connection of its own to the coordinator). It sends heartbeats
// as the agent's CoordinatorLink does (SendHeartbeat; the load generator
// calls it for every site on one thread) and runs the agent's work loop
// (agent/task_runner.h) in Run(): long-poll GetWork; for a task, check it
// (the job's canonical JSON parses, the site is a participant, the round
// seed is 32 bytes), download the model file and the global parameters as
// the agent does, and start the site's REAL secure-aggregation session
// (agent/round/secagg_session.h over crypto/secagg/client.h); answer each
// stage input with the session; at the masked-input stage contribute
// SyntheticContribution's words. Payloads above 8 MiB travel with Upload,
// as in the agent. Skipped, because they involve no coordinator: the data,
// the local policy, the privacy ledger and training.
//
// Every byte counted is a serialised protobuf message (or a downloaded
// object's bytes), sent or received by this site, not TLS or HTTP/2
// framing: see LoadStats.
//
// Thread-safety: Run() on one thread per site; SendHeartbeat() from one
// other thread (the channel and stub are thread-safe).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/round/secagg_session.h"
#include "benchmarks/round/load_stats.h"
#include "benchmarks/round/synthetic_contribution.h"
#include "crypto/secagg/authentication.h"
#include "crypto/signature.h"
#include "tessera.grpc.pb.h"
#include "transport/tls.h"

namespace tessera::loadgen {

// What all sites share (not owned; outlives the sites).
struct SiteShared {
  std::string coordinator_address;  // "127.0.0.1:PORT"
  // One for all sites: it remembers certificates already checked, which is
  // what each agent's own authenticator does over its lifetime.
  std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator;
  SyntheticContribution* contribution = nullptr;
  Permits* compute = nullptr;    // held while a site does CPU work
  Permits* transfers = nullptr;  // held while a site downloads
  LoadStats* stats = nullptr;
  SendBarrier* burst = nullptr;         // masked inputs sent together when set
  uint64_t record_count_bucket = 1000;  // reported for the dataset
  std::string dataset = "synthetic";
};

class SyntheticSite {
 public:
  // Loads the site's key and certificate from `files` and opens its
  // channel (no traffic yet). Errors name the file.
  static absl::StatusOr<std::unique_ptr<SyntheticSite>> Create(const transport::TlsFiles& files,
                                                               const SiteShared& shared);
  ~SyntheticSite();
  SyntheticSite(const SyntheticSite&) = delete;
  SyntheticSite& operator=(const SyntheticSite&) = delete;

  const std::string& id() const { return site_id_; }

  // One heartbeat (deadline 10 s) reporting the shared dataset. Returns the
  // interval the coordinator asks for; the call's error otherwise.
  absl::StatusOr<absl::Duration> SendHeartbeat();

  // The work loop, until `stop` is notified (and the current long poll
  // returns). Errors are counted in the shared LoadStats.
  void Run(const absl::Notification& stop);

 private:
  struct Round;

  SyntheticSite(const SiteShared& shared, std::string site_id, std::string certificate_pem,
                std::unique_ptr<crypto::Signer> signer,
                std::unique_ptr<tessera::v1::Federation::Stub> stub);

  void HandleTask(const tessera::v1::Task& task);
  absl::Status StartRound(const tessera::v1::Task& task, Round& round);
  void HandleStageInput(const tessera::v1::StageInput& input);
  absl::StatusOr<std::string> Fetch(const tessera::v1::ObjectRef& ref, uint32_t round);
  absl::Status Send(const tessera::v1::RoundRef& ref, const std::vector<uint8_t>& payload);
  absl::Status Submit(const tessera::v1::StageSubmission& submission);
  void Refuse(const tessera::v1::RoundRef& ref, const std::string& message);
  void Fail(const tessera::v1::RoundRef& ref, const std::string& what, const absl::Status& status);

  const SiteShared& shared_;
  const std::string site_id_;
  const std::string certificate_pem_;
  std::unique_ptr<crypto::Signer> signer_;
  std::unique_ptr<tessera::v1::Federation::Stub> stub_;
  uint64_t heartbeat_sequence_ = 0;                       // heartbeat thread only
  std::map<std::string, std::unique_ptr<Round>> rounds_;  // work loop only
};

}  // namespace tessera::loadgen
