// Client side of chunked object transfer (proto: DownloadRequest/Chunk and
// UploadRequest/UploadResponse), shared by the agent (Federation service)
// and the `tessera` tool (Admin service). Objects far larger than a gRPC
// message travel as 1 MiB chunks; the receiver checks the SHA-256 of the
// whole object before anything uses it.
//
// The caller supplies how to open the stream, so the same code serves both
// services:
//
//   auto bytes = DownloadObject(
//       [&](grpc::ClientContext* c, const tessera::v1::DownloadRequest& r) {
//         return stub->Download(c, r); },
//       ref, absl::Seconds(60));
//
// Thread-safety: stateless; each call uses its own streams.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/sync_stream.h"
#include "tessera.grpc.pb.h"

namespace tessera::transport {

inline constexpr size_t kChunkBytes = 1 << 20;

using DownloadOpener = std::function<std::unique_ptr<grpc::ClientReader<tessera::v1::Chunk>>(
    grpc::ClientContext*, const tessera::v1::DownloadRequest&)>;
using UploadOpener = std::function<std::unique_ptr<grpc::ClientWriter<tessera::v1::UploadRequest>>(
    grpc::ClientContext*, tessera::v1::UploadResponse*)>;

// Fetches the object `ref`, resuming from where a broken stream stopped (up
// to three times), and returns its bytes once their size and SHA-256 match
// `ref`. DATA_LOSS when they do not; the gRPC status (UNAVAILABLE etc.)
// when the coordinator cannot be reached. `per_attempt` bounds each stream.
absl::StatusOr<std::string> DownloadObject(const DownloadOpener& open,
                                           const tessera::v1::ObjectRef& ref,
                                           absl::Duration per_attempt);

// Sends `bytes` as one object (header with its SHA-256 and size, then
// chunks); `round` is set for round submissions. Returns the coordinator's
// receipt.
absl::StatusOr<tessera::v1::UploadResponse> UploadObject(const UploadOpener& open,
                                                         absl::string_view bytes,
                                                         const tessera::v1::RoundRef* round,
                                                         absl::Duration deadline);

// The ObjectRef (lower-case hex SHA-256 and size) of `bytes`.
tessera::v1::ObjectRef ObjectRefOf(absl::string_view bytes);

}  // namespace tessera::transport
