#include "tests/e2e/recording_relay.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace tessera::testing {

namespace {

std::string BytesOf(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

}  // namespace

// One relayed call: the agent's side (this server reactor) and the
// coordinator's side (Upstream, a client reactor), every call treated as a
// bidirectional stream of raw messages. At most one write is in flight on
// each side: a message read on one side is written to the other before the
// next is read. Holds on the upstream keep its OnDone (after which it may
// not be touched) from running while the agent's side may still use it:
// one until the agent's side has stopped sending, one while a response is
// on its way to the agent. The upstream's status finishes the call. Once
// both sides are done the call is handed to the relay, which frees it when
// it stops.
class RecordingRelay::Call final : public grpc::ServerGenericBidiReactor {
 public:
  Call(RecordingRelay& owner, grpc::GenericCallbackServerContext* context)
      : owner_(owner), upstream_(*this) {
    const std::string& method = context->method();
    name_ = method.substr(method.rfind('/') + 1);
    owner_.RecordMetadata(*context);
    upstream_.context.set_deadline(context->deadline());
    owner_.stub_->PrepareBidiStreamingCall(&upstream_.context, method, grpc::StubOptions(),
                                           &upstream_);
    upstream_.AddHold();  // released once the agent's side stopped sending
    upstream_.StartRead(&upstream_.response);
    upstream_.StartCall();
    StartRead(&request_);
  }

  // Agent -> relay.
  void OnReadDone(bool ok) override {
    if (!ok) {
      upstream_.StartWritesDone();
      upstream_.RemoveHold();
      return;
    }
    owner_.RecordMessage(name_, BytesOf(request_));
    upstream_.StartWrite(&request_);
  }
  // Relay -> agent.
  void OnWriteDone(bool ok) override {
    if (ok) {
      upstream_.StartRead(&upstream_.response);
    } else {
      upstream_.context.TryCancel();
    }
    upstream_.RemoveHold();  // taken when the response was read
  }
  void OnCancel() override { upstream_.context.TryCancel(); }
  void OnDone() override { Done(/*server=*/true); }

 private:
  class Upstream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(Call& call) : call_(call) {}
    // Relay -> coordinator.
    void OnWriteDone(bool ok) override {
      if (ok) {
        call_.StartRead(&call_.request_);
      } else {
        // The coordinator's side is gone: stop reading from the agent.
        call_.upstream_.StartWritesDone();
        RemoveHold();
      }
    }
    // Coordinator -> relay.
    void OnReadDone(bool ok) override {
      if (!ok) return;  // the status follows in OnDone
      AddHold();        // released once the agent has it
      call_.StartWrite(&response);
    }
    void OnDone(const grpc::Status& status) override {
      call_.Finish(status);
      call_.Done(/*server=*/false);
    }

    grpc::ClientContext context;
    grpc::ByteBuffer response;

   private:
    Call& call_;
  };

  void Done(bool server) {
    bool both = false;
    {
      absl::MutexLock lock(&mutex_);
      (server ? server_done_ : upstream_done_) = true;
      both = server_done_ && upstream_done_;
    }
    if (both) owner_.Retire(this);
  }

  RecordingRelay& owner_;
  std::string name_;
  grpc::ByteBuffer request_;
  Upstream upstream_;
  absl::Mutex mutex_;
  bool server_done_ ABSL_GUARDED_BY(mutex_) = false;
  bool upstream_done_ ABSL_GUARDED_BY(mutex_) = false;
};

class RecordingRelay::Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(RecordingRelay& owner) : owner_(owner) {}
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new Call(owner_, context);
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
  relay->stub_ = std::make_unique<grpc::GenericStub>(
      grpc::CreateCustomChannel(upstream, client_credentials, args));
  relay->service_ = std::make_unique<Service>(*relay);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", server_credentials, &relay->port_);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  builder.RegisterCallbackGenericService(relay->service_.get());
  relay->server_ = builder.BuildAndStart();
  if (relay->server_ == nullptr || relay->port_ == 0) {
    return absl::UnavailableError("the recording relay could not listen on 127.0.0.1");
  }
  return relay;
}

RecordingRelay::~RecordingRelay() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  // Calls still running now (there should be none once the agent stopped)
  // are left alone rather than freed under gRPC's feet.
  std::vector<Call*> retired;
  {
    absl::MutexLock lock(&mutex_);
    retired.swap(retired_);
  }
  for (Call* call : retired) delete call;
}

void RecordingRelay::Retire(Call* call) {
  absl::MutexLock lock(&mutex_);
  retired_.push_back(call);
}

void RecordingRelay::RecordMetadata(const grpc::GenericCallbackServerContext& context) {
  absl::MutexLock lock(&mutex_);
  for (const auto& [key, value] : context.client_metadata()) {
    absl::StrAppend(&metadata_, absl::string_view(key.data(), key.size()), ": ",
                    absl::string_view(value.data(), value.size()), "\n");
  }
}

void RecordingRelay::RecordMessage(const std::string& method, std::string bytes) {
  absl::MutexLock lock(&mutex_);
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
