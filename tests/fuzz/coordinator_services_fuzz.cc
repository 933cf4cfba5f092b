// Fuzz target: every handler of the coordinator's Federation service (called
// by agents) and Admin service (called by people with `tessera`), run as
// gRPC would run them but in process: a fresh coordinator per input (SQLite
// store in memory, object store in a scratch folder, site registry,
// mailboxes, revocations and the round runner on a fake clock) takes the
// sequence of calls the input encodes (coordinator_calls.h), each from the
// caller and role the input picks. The caller reaches the handlers through
// CallGuard's identity source, as a verified certificate would; the
// streaming uploads and downloads run their shared code (ReceiveUpload,
// ServeDownload) over in-memory streams.
//
// A sequence can submit a job, approve it, have sites report in, run the
// round strand and answer the round's stages, so the fuzzer reaches the
// round logic behind SubmitStage as well as the request checks.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/clock.h"
#include "coordinator/call_guard.h"
#include "coordinator/job_runner.h"
#include "coordinator/mailboxes.h"
#include "coordinator/object_service.h"
#include "coordinator/object_store.h"
#include "coordinator/revocations.h"
#include "coordinator/services.h"
#include "coordinator/site_registry.h"
#include "coordinator/store.h"
#include "crypto/secagg/authentication.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/reflection.h"
#include "tests/crypto/test_pki.h"
#include "tests/fuzz/coordinator_calls.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace v1 = tessera::v1;
using tessera::fuzz::Method;
using tessera::transport::PeerIdentity;
using tessera::transport::Role;

[[noreturn]] void Die(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "coordinator fuzz set-up: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

// The federation CA, made once per process (a fresh key each run).
const std::string& CaPem() {
  static const std::string* const pem = [] {
    auto pki = tessera::crypto::testing::TestPki::Create("Tessera fuzz CA",
                                                          tessera::crypto::testing::TestKeyType::kEcdsaP256);
    if (!pki.ok()) Die("CA", pki.status());
    return new std::string((*pki)->ca().certificate_pem);
  }();
  return *pem;
}

// Replaces "@job" and "@spec" in every string field, nested ones too.
void Substitute(google::protobuf::Message& message, const std::string& job,
                const std::string& spec) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated()) continue;
    if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING &&
        field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      const std::string value = reflection->GetString(message, field);
      if (value.find('@') != std::string::npos) {
        reflection->SetString(&message, field,
                              absl::StrReplaceAll(value, {{"@job", job}, {"@spec", spec}}));
      }
    } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
               reflection->HasField(message, field)) {
      Substitute(*reflection->MutableMessage(&message, field), job, spec);
    }
  }
}

// An upload stream: the messages the payload lists.
class PayloadReader final : public grpc::ServerReaderInterface<v1::UploadRequest> {
 public:
  explicit PayloadReader(const std::string& payload) : payload_(payload) {}
  void SendInitialMetadata() override {}
  bool NextMessageSize(uint32_t* size) override {
    *size = 65536;
    return offset_ < payload_.size();
  }
  bool Read(v1::UploadRequest* message) override {
    if (offset_ + 2 > payload_.size()) return false;
    size_t size = static_cast<uint8_t>(payload_[offset_]) |
                  size_t{static_cast<uint8_t>(payload_[offset_ + 1])} << 8;
    offset_ += 2;
    size = std::min(size, payload_.size() - offset_);
    const bool parsed = message->ParseFromArray(payload_.data() + offset_, static_cast<int>(size));
    offset_ += size;
    return parsed;  // a message that does not parse ends the stream, as gRPC does
  }

 private:
  const std::string& payload_;
  size_t offset_ = 0;
};

// A download stream that keeps what it was sent, and stops taking chunks
// after a while as a receiver that went away would.
class ChunkWriter final : public grpc::ServerWriterInterface<v1::Chunk> {
 public:
  void SendInitialMetadata() override {}
  bool Write(const v1::Chunk& chunk, grpc::WriteOptions /*options*/) override {
    received_ += chunk.data().size();
    return ++chunks_ < 64;
  }

 private:
  size_t chunks_ = 0;
  size_t received_ = 0;
};

// One coordinator, as CoordinatorServer wires it, without the network.
struct Coordinator {
  tessera::FakeClock clock;
  std::unique_ptr<tessera::coordinator::Store> store;
  std::unique_ptr<tessera::coordinator::ObjectStore> objects;
  tessera::coordinator::Revocations revocations{CaPem(), ""};
  tessera::coordinator::RateLimiter limiter{clock, 1e9, 1e9};
  PeerIdentity caller;
  tessera::coordinator::CallGuard guard{
      revocations, limiter, nullptr,
      [this](const grpc::ServerContext&) -> absl::StatusOr<PeerIdentity> { return caller; }};
  tessera::coordinator::SiteRegistry registry{clock, absl::Seconds(30)};
  tessera::coordinator::Mailboxes mailboxes;
  std::unique_ptr<tessera::coordinator::JobRunner> runner;
  std::unique_ptr<tessera::coordinator::FederationService> federation;
  std::unique_ptr<tessera::coordinator::AdminService> admin;
  std::string last_job;
  std::string last_spec;

  Coordinator() {
    auto opened = tessera::coordinator::Store::Open(":memory:");
    if (!opened.ok()) Die("store", opened.status());
    store = *std::move(opened);
    const std::string dir = tessera::fuzz::ScratchDir() + "/objects";
    tessera::fuzz::EmptyDir(dir);
    auto object_store = tessera::coordinator::ObjectStore::Open(dir, 1 << 20);
    if (!object_store.ok()) Die("object store", object_store.status());
    objects = *std::move(object_store);
    auto authenticator = tessera::crypto::secagg::PeerAuthenticator::Create({CaPem(), "site"});
    if (!authenticator.ok()) Die("authenticator", authenticator.status());
    runner = std::make_unique<tessera::coordinator::JobRunner>(
        *store, *objects, mailboxes, registry, revocations, *authenticator, clock,
        tessera::coordinator::JobRunnerOptions{});
    federation = std::make_unique<tessera::coordinator::FederationService>(
        guard, registry, *store, *objects, mailboxes, revocations, *runner, clock,
        absl::Seconds(10));
    admin = std::make_unique<tessera::coordinator::AdminService>(
        guard, registry, *store, revocations, *objects, *runner, CaPem(), clock);
  }

  // Parses the request; false when the payload is not one.
  template <typename Request>
  bool Parse(const std::string& payload, Request* request) {
    if (!request->ParseFromString(payload)) return false;
    Substitute(*request, last_job, last_spec);
    return true;
  }

  template <typename Service, typename Request, typename Response>
  void Unary(Service& service,
             grpc::Status (Service::*handler)(grpc::ServerContext*, const Request*, Response*),
             const std::string& payload) {
    Request request;
    if (!Parse(payload, &request)) return;
    Response response;
    grpc::ServerContext context;
    (void)(service.*handler)(&context, &request, &response);
    if constexpr (std::is_same_v<Response, v1::SubmitJobResponse>) {
      if (!response.job_id().empty()) {
        last_job = response.job_id();
        last_spec = response.spec_sha256();
      }
    }
  }

  void Call(Method method, const std::string& payload) {
    using tessera::coordinator::AdminService;
    using tessera::coordinator::FederationService;
    switch (method) {
      case Method::kHeartbeat:
        return Unary(*federation, &FederationService::Heartbeat, payload);
      case Method::kSubmitStage:
        return Unary(*federation, &FederationService::SubmitStage, payload);
      case Method::kDownload:
      case Method::kDownloadObject: {
        v1::DownloadRequest request;
        if (!Parse(payload, &request)) return;
        ChunkWriter writer;
        (void)tessera::coordinator::ServeDownload(*objects, request, &writer);
        return;
      }
      case Method::kUpload:
      case Method::kUploadObject: {
        PayloadReader reader(payload);
        (void)tessera::coordinator::ReceiveUpload(*objects, &reader);
        return;
      }
      case Method::kTakeWork: {
        v1::GetWorkResponse work;
        (void)mailboxes.Take(caller.id, absl::InfinitePast(), [] { return true; }, &work,
                             absl::ZeroDuration());
        return;
      }
      case Method::kListSites:
        return Unary(*admin, &AdminService::ListSites, payload);
      case Method::kStatus:
        return Unary(*admin, &AdminService::Status, payload);
      case Method::kPublishRevocationList:
        return Unary(*admin, &AdminService::PublishRevocationList, payload);
      case Method::kRegisterSite:
        return Unary(*admin, &AdminService::RegisterSite, payload);
      case Method::kSubmitJob:
        return Unary(*admin, &AdminService::SubmitJob, payload);
      case Method::kListJobs:
        return Unary(*admin, &AdminService::ListJobs, payload);
      case Method::kGetJob:
        return Unary(*admin, &AdminService::GetJob, payload);
      case Method::kDecideJob:
        return Unary(*admin, &AdminService::DecideJob, payload);
      case Method::kStopJob:
        return Unary(*admin, &AdminService::StopJob, payload);
      case Method::kGetModel:
        return Unary(*admin, &AdminService::GetModel, payload);
      case Method::kSetBudget:
        return Unary(*admin, &AdminService::SetBudget, payload);
      case Method::kListBudgets:
        return Unary(*admin, &AdminService::ListBudgets, payload);
      case Method::kReadAudit:
        return Unary(*admin, &AdminService::ReadAudit, payload);
      case Method::kReadPrivacyRecords:
        return Unary(*admin, &AdminService::ReadPrivacyRecords, payload);
      case Method::kTick:
        clock.Advance(absl::Seconds(payload.empty() ? 1 : static_cast<uint8_t>(payload[0])));
        runner->Tick(clock.Now());
        return;
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  tessera::fuzz::QuietLogs();
  // Protobuf's complaints about strings that are not UTF-8, too.
  google::protobuf::SetLogHandler(nullptr);
  (void)CaPem();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  Coordinator coordinator;
  size_t offset = 0;
  for (int calls = 0; calls < 64 && offset + 5 <= size; ++calls) {
    const auto method = static_cast<Method>(bytes[offset] % tessera::fuzz::kMethodCount);
    const auto role = static_cast<Role>(bytes[offset + 1] % 6);
    const uint8_t who = bytes[offset + 2] % tessera::fuzz::kCallerCount;
    size_t length = bytes[offset + 3] | size_t{bytes[offset + 4]} << 8;
    offset += 5;
    length = std::min(length, size - offset);
    const std::string payload(reinterpret_cast<const char*>(bytes + offset), length);
    offset += length;
    // Each caller has its own certificate serial, so a revocation list can
    // name it.
    coordinator.caller = PeerIdentity{tessera::fuzz::kCallers[who], role,
                                      absl::StrCat(static_cast<int>(who) + 16),
                                      coordinator.clock.Now() + absl::Hours(24 * 365)};
    coordinator.Call(method, payload);
  }
  return 0;
}
