// A connection from the `tessera` tool to the coordinator's Admin service.
//
// Thread-safety: an AdminClient may be used from one thread at a time.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "coordinator/cli/commands.h"
#include "tessera.grpc.pb.h"

namespace tessera::cli {

class AdminClient {
 public:
  // Loads the TLS files and opens a channel. Errors name the missing flag or
  // the file at fault.
  static absl::StatusOr<AdminClient> Connect(const ConnectionOptions& options);

  // A client context with the configured deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  // Converts a failed call into a status that tells the user what to do.
  absl::Status CallError(const grpc::Status& status) const;

  tessera::v1::Admin::Stub& stub() { return *stub_; }

 private:
  AdminClient(std::unique_ptr<tessera::v1::Admin::Stub> stub, ConnectionOptions options)
      : stub_(std::move(stub)), options_(std::move(options)) {}
  std::unique_ptr<tessera::v1::Admin::Stub> stub_;
  ConnectionOptions options_;
};

}  // namespace tessera::cli
