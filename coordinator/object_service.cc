#include "coordinator/object_service.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "transport/object_transfer.h"

namespace tessera::coordinator {

absl::Status ServeDownload(const ObjectStore& store, const tessera::v1::DownloadRequest& request,
                           grpc::ServerWriterInterface<tessera::v1::Chunk>* writer) {
  TESSERA_ASSIGN_OR_RETURN(uint64_t size, store.Size(request.sha256_hex()));
  uint64_t offset = request.offset();
  if (offset > size) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end of the object"));
  }
  do {
    TESSERA_ASSIGN_OR_RETURN(std::string data,
                             store.Read(request.sha256_hex(), offset, transport::kChunkBytes));
    tessera::v1::Chunk chunk;
    chunk.set_offset(offset);
    chunk.set_total_size(size);
    offset += data.size();
    chunk.set_data(std::move(data));
    if (!writer->Write(chunk)) {
      return absl::CancelledError("the receiver went away during the download");
    }
  } while (offset < size);
  return absl::OkStatus();
}

absl::StatusOr<tessera::v1::UploadResponse> ReceiveUpload(
    ObjectStore& store, grpc::ServerReaderInterface<tessera::v1::UploadRequest>* reader) {
  tessera::v1::UploadRequest message;
  if (!reader->Read(&message) || !message.has_header()) {
    return absl::InvalidArgumentError("an upload must start with its header (SHA-256 and size)");
  }
  const tessera::v1::UploadHeader header = message.header();
  tessera::v1::UploadResponse response;
  response.mutable_object()->set_sha256_hex(header.sha256_hex());
  response.mutable_object()->set_size_bytes(header.size_bytes());
  if (auto existing = store.Size(header.sha256_hex());
      existing.ok() && *existing == header.size_bytes()) {
    while (reader->Read(&message)) {
    }
    response.set_duplicate(true);
    return response;
  }
  TESSERA_ASSIGN_OR_RETURN(auto object, store.BeginWrite(header.sha256_hex(), header.size_bytes()));
  while (reader->Read(&message)) {
    if (!message.has_data()) {
      return absl::InvalidArgumentError("an upload has one header, then only data");
    }
    TESSERA_RETURN_IF_ERROR(object->Append(message.data()));
  }
  TESSERA_RETURN_IF_ERROR(object->Commit());
  return response;
}

}  // namespace tessera::coordinator
