#include "coordinator/cli/admin_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status.h"
#include "transport/peer.h"
#include "transport/pki.h"
#include "transport/tls.h"

namespace tessera::cli {

void AddConnectionOptions(CLI::App* command, ConnectionOptions& options) {
  command->add_option("--coordinator", options.coordinator, "Coordinator address host:port")
      ->envname("TESSERA_COORDINATOR");
  command->add_option("--ca", options.ca_file, "Federation CA certificate (PEM)")
      ->envname("TESSERA_CA");
  command->add_option("--cert", options.cert_file, "Your certificate (PEM)")
      ->envname("TESSERA_CERT");
  command->add_option("--key", options.key_file, "Your private key (PEM, mode 0600)")
      ->envname("TESSERA_KEY");
  command->add_option("--timeout", options.timeout_seconds, "Seconds to wait for the coordinator")
      ->check(CLI::Range(1, 3600));
}

absl::StatusOr<AdminClient> AdminClient::Connect(const ConnectionOptions& options) {
  for (const auto& [value, flag, env] :
       {std::tuple{&options.coordinator, "--coordinator", "TESSERA_COORDINATOR"},
        std::tuple{&options.ca_file, "--ca", "TESSERA_CA"},
        std::tuple{&options.cert_file, "--cert", "TESSERA_CERT"},
        std::tuple{&options.key_file, "--key", "TESSERA_KEY"}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no ", flag, " given; pass ", flag, " or set ", env));
    }
  }
  TESSERA_ASSIGN_OR_RETURN(
      auto credentials,
      transport::MakeChannelCredentials({options.ca_file, options.cert_file, options.key_file}));
  // Check our own certificate first: the coordinator can only refuse the
  // TLS handshake, which says nothing about why.
  TESSERA_ASSIGN_OR_RETURN(std::string ca_pem, ReadFileToString(options.ca_file, "CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(std::string cert_pem, ReadFileToString(options.cert_file, "certificate"));
  absl::Status own = transport::VerifyCertificate(ca_pem, cert_pem, absl::Now());
  if (!own.ok()) return Annotate(own, absl::StrCat("--cert ", options.cert_file));
  auto channel = grpc::CreateChannel(options.coordinator, credentials);
  return AdminClient(tessera::v1::Admin::NewStub(channel), options);
}

std::unique_ptr<grpc::ClientContext> AdminClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(options_.timeout_seconds));
  return context;
}

absl::Status AdminClient::CallError(const grpc::Status& status) const {
  absl::Status converted = transport::FromGrpcStatus(status);
  switch (converted.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return absl::Status(converted.code(),
                          absl::StrCat("cannot reach the coordinator at ", options_.coordinator,
                                       " within ", options_.timeout_seconds, " s (",
                                       converted.message(),
                                       "); check the address, that it is running, and that "
                                       "your certificate was issued by its CA"));
    default:
      return converted;
  }
}

}  // namespace tessera::cli
