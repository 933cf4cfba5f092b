// A recording relay for end-to-end tests: a Federation server on 127.0.0.1
// (port 0) that terminates an agent's mutual TLS with the coordinator's
// certificate, keeps the serialized bytes of every request message the
// agent sends and the metadata of every call, and forwards each call to the
// real coordinator over a channel authenticated with the agent's own site
// certificate, streaming responses back. Everything that leaves the agent
// passes through it, so a test can search what the agent revealed.
//
// The relay is typed (it implements tessera.v1.Federation): a field the
// agent sent that the contract does not know is kept as an unknown field and
// re-serialized, so no byte the agent sent is lost from the record.
//
// Thread-safety: gRPC's threads call the service; Captured() may be called
// from any thread (one mutex guards the record).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tessera.grpc.pb.h"
#include "transport/tls.h"

namespace tessera::testing {

class RecordingRelay {
 public:
  struct Message {
    std::string method;  // e.g. "SubmitStage"
    std::string bytes;   // the request message as serialized
  };

  // Listens as `server_tls` (the coordinator's files) and dials `upstream`
  // as `client_tls` (the agent's files).
  static absl::StatusOr<std::unique_ptr<RecordingRelay>> Start(
      const transport::TlsFiles& server_tls, const transport::TlsFiles& client_tls,
      const std::string& upstream);
  ~RecordingRelay();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<Message> Captured() const;
  // Every call's client metadata, as "key: value" lines.
  std::string Metadata() const;

 private:
  class Service;
  RecordingRelay() = default;
  void Record(const std::string& method, const google::protobuf::Message& message,
              const grpc::ServerContext& context);

  mutable absl::Mutex mutex_;
  std::vector<Message> captured_ ABSL_GUARDED_BY(mutex_);
  std::string metadata_ ABSL_GUARDED_BY(mutex_);
  std::unique_ptr<tessera::v1::Federation::Stub> upstream_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tessera::testing
