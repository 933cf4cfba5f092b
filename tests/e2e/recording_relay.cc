#include "tests/e2e/recording_relay.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::testing {

namespace {

// The incoming call's deadline, for the forwarded one.
void CopyDeadline(const grpc::ServerContext& in, grpc::ClientContext& out) {
  out.set_deadline(in.deadline());
}

}  // namespace

class RecordingRelay::Service final : public tessera::v1::Federation::Service {
 public:
  explicit Service(RecordingRelay& owner) : owner_(owner) {}

  grpc::Status Heartbeat(grpc::ServerContext* context, const tessera::v1::HeartbeatRequest* request,
                         tessera::v1::HeartbeatResponse* response) override {
    owner_.Record("Heartbeat", *request, *context);
    grpc::ClientContext upstream;
    CopyDeadline(*context, upstream);
    return owner_.upstream_->Heartbeat(&upstream, *request, response);
  }

  grpc::Status GetWork(grpc::ServerContext* context, const tessera::v1::GetWorkRequest* request,
                       tessera::v1::GetWorkResponse* response) override {
    owner_.Record("GetWork", *request, *context);
    grpc::ClientContext upstream;
    CopyDeadline(*context, upstream);
    return owner_.upstream_->GetWork(&upstream, *request, response);
  }

  grpc::Status SubmitStage(grpc::ServerContext* context,
                           const tessera::v1::StageSubmission* request,
                           tessera::v1::StageSubmissionResponse* response) override {
    owner_.Record("SubmitStage", *request, *context);
    grpc::ClientContext upstream;
    CopyDeadline(*context, upstream);
    return owner_.upstream_->SubmitStage(&upstream, *request, response);
  }

  grpc::Status Download(grpc::ServerContext* context, const tessera::v1::DownloadRequest* request,
                        grpc::ServerWriter<tessera::v1::Chunk>* writer) override {
    owner_.Record("Download", *request, *context);
    grpc::ClientContext upstream;
    CopyDeadline(*context, upstream);
    std::unique_ptr<grpc::ClientReader<tessera::v1::Chunk>> reader =
        owner_.upstream_->Download(&upstream, *request);
    tessera::v1::Chunk chunk;
    while (reader->Read(&chunk)) {
      if (!writer->Write(chunk)) {
        upstream.TryCancel();
        break;
      }
    }
    return reader->Finish();
  }

  grpc::Status Upload(grpc::ServerContext* context,
                      grpc::ServerReader<tessera::v1::UploadRequest>* reader,
                      tessera::v1::UploadResponse* response) override {
    grpc::ClientContext upstream;
    CopyDeadline(*context, upstream);
    std::unique_ptr<grpc::ClientWriter<tessera::v1::UploadRequest>> writer =
        owner_.upstream_->Upload(&upstream, response);
    tessera::v1::UploadRequest part;
    while (reader->Read(&part)) {
      owner_.Record("Upload", part, *context);
      if (!writer->Write(part)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

 private:
  RecordingRelay& owner_;
};

absl::StatusOr<std::unique_ptr<RecordingRelay>> RecordingRelay::Start(
    const transport::TlsFiles& server_tls, const transport::TlsFiles& client_tls,
    const std::string& upstream) {
  TESSERA_ASSIGN_OR_RETURN(auto server_credentials, transport::MakeServerCredentials(server_tls));
  TESSERA_ASSIGN_OR_RETURN(auto client_credentials, transport::MakeChannelCredentials(client_tls));
  std::unique_ptr<RecordingRelay> relay(new RecordingRelay());
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  relay->upstream_ = tessera::v1::Federation::NewStub(
      grpc::CreateCustomChannel(upstream, client_credentials, args));
  relay->service_ = std::make_unique<Service>(*relay);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", server_credentials, &relay->port_);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  builder.RegisterService(relay->service_.get());
  relay->server_ = builder.BuildAndStart();
  if (relay->server_ == nullptr || relay->port_ == 0) {
    return absl::UnavailableError("the recording relay could not listen on 127.0.0.1");
  }
  return relay;
}

RecordingRelay::~RecordingRelay() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
}

void RecordingRelay::Record(const std::string& method, const google::protobuf::Message& message,
                            const grpc::ServerContext& context) {
  std::string bytes = message.SerializeAsString();
  absl::MutexLock lock(&mutex_);
  for (const auto& [key, value] : context.client_metadata()) {
    absl::StrAppend(&metadata_, absl::string_view(key.data(), key.size()), ": ",
                    absl::string_view(value.data(), value.size()), "\n");
  }
  captured_.push_back({method, std::move(bytes)});
}

std::vector<RecordingRelay::Message> RecordingRelay::Captured() const {
  absl::MutexLock lock(&mutex_);
  return captured_;
}

std::string RecordingRelay::Metadata() const {
  absl::MutexLock lock(&mutex_);
  return metadata_;
}

}  // namespace tessera::testing
