// Mutual-TLS credentials for every Tessera connection.
//
// Both ends present a certificate issued by the federation CA and verify the
// other's; nothing ever connects without one. RestrictProcessToTls13() makes
// OpenSSL refuse every protocol but TLS 1.3 for the whole process; it must
// run at the very start of main, before anything creates a gRPC channel or
// server (OpenSSL reads its configuration once per process).
//
// Thread-safety: RestrictProcessToTls13 must be called once, single-threaded;
// the credential factories are safe from any thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace tessera::transport {

// The three PEM files of one party.
struct TlsFiles {
  std::string ca_file;    // federation CA certificate
  std::string cert_file;  // this party's certificate
  std::string key_file;   // this party's private key (mode 0600)
};

// Loads a process-specific OpenSSL configuration that allows only TLS 1.3.
// FAILED_PRECONDITION when OpenSSL was already initialised with another
// configuration or the configuration cannot be written.
absl::Status RestrictProcessToTls13();

// Client credentials for dialling the coordinator. Checks that the files
// exist, the key is private (0600) and the certificate is PEM. Errors name
// the file and the fix.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files);

// Server credentials that require and verify a client certificate signed by
// the federation CA.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace tessera::transport
