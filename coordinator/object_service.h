// Server side of chunked object transfer, shared by the Federation service
// (agents download models and parameters) and the Admin service (ML leads
// upload models; people export them).
//
// Thread-safety: stateless; the store is thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "coordinator/object_store.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/sync_stream.h"
#include "tessera.grpc.pb.h"

namespace tessera::coordinator {

// Streams the requested object from its offset in 1 MiB chunks. NOT_FOUND
// for an unknown object; INVALID_ARGUMENT for a malformed name.
absl::Status ServeDownload(const ObjectStore& store, const tessera::v1::DownloadRequest& request,
                           grpc::ServerWriterInterface<tessera::v1::Chunk>* writer);

// Both take the stream interfaces rather than gRPC's final stream classes,
// so that the fuzz targets (tests/fuzz/) feed them streams of their own.
//
// Receives an object (a header, then its bytes) into the store.
// INVALID_ARGUMENT when the stream does not start with a header, runs past
// the announced size, ends early or fails the hash; RESOURCE_EXHAUSTED when
// the object exceeds the store's limit. An object the store already holds
// is drained and acknowledged as a duplicate.
absl::StatusOr<tessera::v1::UploadResponse> ReceiveUpload(
    ObjectStore& store, grpc::ServerReaderInterface<tessera::v1::UploadRequest>* reader);

}  // namespace tessera::coordinator
