#include "transport/object_transfer.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "crypto/bytes.h"
#include "crypto/sha256.h"
#include "transport/peer.h"

namespace tessera::transport {
namespace {

constexpr int kDownloadAttempts = 4;

}  // namespace

tessera::v1::ObjectRef ObjectRefOf(absl::string_view bytes) {
  tessera::v1::ObjectRef ref;
  ref.set_sha256_hex(crypto::Sha256Hex(bytes));
  ref.set_size_bytes(bytes.size());
  return ref;
}

absl::StatusOr<std::string> DownloadObject(const DownloadOpener& open,
                                           const tessera::v1::ObjectRef& ref,
                                           absl::Duration per_attempt) {
  std::string bytes;
  bytes.reserve(ref.size_bytes());
  absl::Status last;
  for (int attempt = 0; attempt < kDownloadAttempts; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + per_attempt));
    tessera::v1::DownloadRequest request;
    request.set_sha256_hex(ref.sha256_hex());
    request.set_offset(bytes.size());
    auto reader = open(&context, request);
    tessera::v1::Chunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.offset() != bytes.size() || chunk.total_size() != ref.size_bytes() ||
          bytes.size() + chunk.data().size() > ref.size_bytes()) {
        context.TryCancel();
        reader->Finish();
        return absl::DataLossError(absl::StrCat("object ", ref.sha256_hex(),
                                                " arrived out of order or over its size"));
      }
      bytes += chunk.data();
    }
    last = FromGrpcStatus(reader->Finish());
    if (last.ok()) break;
    // Only a broken connection is worth resuming; anything else is final.
    if (last.code() != absl::StatusCode::kUnavailable &&
        last.code() != absl::StatusCode::kDeadlineExceeded) {
      return last;
    }
  }
  if (!last.ok()) return last;
  if (bytes.size() != ref.size_bytes() ||
      crypto::Sha256Hex(bytes) != ref.sha256_hex()) {
    return absl::DataLossError(absl::StrCat("object ", ref.sha256_hex(),
                                            " did not match its SHA-256 after download"));
  }
  return bytes;
}

absl::StatusOr<tessera::v1::UploadResponse> UploadObject(const UploadOpener& open,
                                                         absl::string_view bytes,
                                                         const tessera::v1::RoundRef* round,
                                                         absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  tessera::v1::UploadResponse response;
  auto writer = open(&context, &response);
  tessera::v1::UploadRequest header;
  tessera::v1::ObjectRef ref = ObjectRefOf(bytes);
  header.mutable_header()->set_sha256_hex(ref.sha256_hex());
  header.mutable_header()->set_size_bytes(ref.size_bytes());
  if (round != nullptr) *header.mutable_header()->mutable_round() = *round;
  bool open_stream = writer->Write(header);
  for (size_t offset = 0; open_stream && offset < bytes.size(); offset += kChunkBytes) {
    tessera::v1::UploadRequest part;
    part.set_data(std::string(bytes.substr(offset, kChunkBytes)));
    open_stream = writer->Write(part);
  }
  writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (!status.ok()) return status;
  return response;
}

}  // namespace tessera::transport
