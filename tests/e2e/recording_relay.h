// A recording relay for end-to-end tests: a Federation server on 127.0.0.1
// (port 0) that terminates an agent's mutual TLS with the coordinator's
// certificate, keeps the serialized bytes of every request message the
// agent sends and the metadata of every call, and forwards each call to the
// real coordinator over a channel authenticated with the agent's own site
// certificate, streaming responses back. Everything that leaves the agent
// passes through it, so a test can search what the agent revealed.
//
// The relay is generic: it knows no service and keeps each message's bytes
// exactly as they came off the wire (after TLS), whatever the method.
//
// Thread-safety: gRPC's threads run the calls (one reactor per call);
// Captured() and Metadata() may be called from any thread (one mutex guards
// the record).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "transport/tls.h"

namespace tessera::testing {

class RecordingRelay {
 public:
  struct Message {
    std::string method;  // the method's name, e.g. "SubmitStage"
    std::string bytes;   // the request message as the agent sent it
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
  class Call;
  class Service;
  RecordingRelay() = default;
  void RecordMetadata(const grpc::GenericCallbackServerContext& context);
  void RecordMessage(const std::string& method, std::string bytes);
  void Retire(Call* call);

  mutable absl::Mutex mutex_;
  std::vector<Message> captured_ ABSL_GUARDED_BY(mutex_);
  std::string metadata_ ABSL_GUARDED_BY(mutex_);
  std::vector<Call*> retired_ ABSL_GUARDED_BY(mutex_);  // finished calls, freed on destruction
  std::unique_ptr<grpc::GenericStub> stub_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tessera::testing
