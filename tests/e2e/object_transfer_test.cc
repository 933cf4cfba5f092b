// Objects far larger than a gRPC message (a 40 MiB model) go up from an ML
// lead and down to a site in 1 MiB chunks through a real coordinator, and
// anything that does not match its announced SHA-256 is refused.
#include <chrono>
#include <fstream>
#include <random>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tessera.grpc.pb.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"
#include "transport/object_transfer.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::shared_ptr<grpc::Channel> Dial(const LocalFederation& federation, const std::string& who) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadAll(federation.Pki("ca.pem"));
  options.pem_cert_chain = ReadAll(federation.Pki(who + ".pem"));
  options.pem_private_key = ReadAll(federation.Pki(who + ".key"));
  return grpc::CreateChannel(federation.address(), grpc::SslCredentials(options));
}

absl::StatusOr<tessera::v1::UploadResponse> AdminUpload(const LocalFederation& federation,
                                                        const std::string& who,
                                                        const std::string& bytes) {
  auto stub = tessera::v1::Admin::NewStub(Dial(federation, who));
  return transport::UploadObject(
      [&](grpc::ClientContext* context, tessera::v1::UploadResponse* response) {
        return stub->UploadObject(context, response);
      },
      bytes, nullptr, absl::Seconds(60));
}

class ObjectTransferTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(federation_, LocalFederation::Start({"rfh"})); }
  std::unique_ptr<LocalFederation> federation_;
};

TEST_F(ObjectTransferTest, LargeModelGoesUpAndDownInChunks) {
  std::string model(40 * 1024 * 1024 + 17, '\0');
  std::mt19937_64 rng(7);
  for (char& c : model) c = static_cast<char>(rng());

  ASSERT_OK_AND_ASSIGN(auto uploaded, AdminUpload(*federation_, "person-ml-lead", model));
  EXPECT_FALSE(uploaded.duplicate());
  EXPECT_EQ(uploaded.object().sha256_hex(), transport::ObjectRefOf(model).sha256_hex());
  EXPECT_EQ(uploaded.object().size_bytes(), model.size());
  ASSERT_OK_AND_ASSIGN(auto again, AdminUpload(*federation_, "person-ml-lead", model));
  EXPECT_TRUE(again.duplicate());

  auto site = tessera::v1::Federation::NewStub(Dial(*federation_, "site-rfh"));
  ASSERT_OK_AND_ASSIGN(
      std::string downloaded,
      transport::DownloadObject(
          [&](grpc::ClientContext* context, const tessera::v1::DownloadRequest& request) {
            return site->Download(context, request);
          },
          uploaded.object(), absl::Seconds(60)));
  EXPECT_TRUE(downloaded == model);

  // A reference with the wrong hash never yields bytes.
  tessera::v1::ObjectRef unknown = uploaded.object();
  unknown.set_sha256_hex(std::string(64, '0'));
  auto missing = transport::DownloadObject(
      [&](grpc::ClientContext* context, const tessera::v1::DownloadRequest& request) {
        return site->Download(context, request);
      },
      unknown, absl::Seconds(10));
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ObjectTransferTest, UploadThatDoesNotMatchItsHashIsRefused) {
  auto stub = tessera::v1::Admin::NewStub(Dial(*federation_, "person-ml-lead"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  tessera::v1::UploadResponse response;
  auto writer = stub->UploadObject(&context, &response);
  tessera::v1::UploadRequest header;
  header.mutable_header()->set_sha256_hex(transport::ObjectRefOf("expected").sha256_hex());
  header.mutable_header()->set_size_bytes(8);
  tessera::v1::UploadRequest data;
  data.set_data("tampered");
  writer->Write(header);
  writer->Write(data);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("corrupted in transit"));
}

TEST_F(ObjectTransferTest, OnlyMlLeadsAndOperatorsUpload) {
  EXPECT_THAT(AdminUpload(*federation_, "person-auditor", "model"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("(role auditor) may not call Admin.UploadObject")));
  EXPECT_THAT(AdminUpload(*federation_, "site-rfh", "model"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_OK(AdminUpload(*federation_, "person-operator", "model").status());
}

}  // namespace
}  // namespace tessera::testing
