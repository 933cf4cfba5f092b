#include "transport/tls.h"

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace tessera::transport {
namespace {

// `Protocol = -ALL, TLSv1.3` sets SSL_OP_NO_* options on every SSL_CTX the
// process creates. gRPC 1.51 sets its own minimum version (TLS 1.2) after
// creating the context, which would override `MinProtocol`, but it does not
// clear these options, so TLS 1.2 and older stay disabled.
constexpr char kTls13OnlyConfig[] = R"(openssl_conf = tessera_openssl
[tessera_openssl]
ssl_conf = tessera_ssl
[tessera_ssl]
system_default = tessera_tls
[tessera_tls]
MinProtocol = TLSv1.3
Protocol = -ALL, TLSv1.3
)";

absl::Status CheckPem(const std::string& pem, const std::string& path, const char* marker,
                      const char* what) {
  if (!absl::StrContains(pem, marker)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " file `", path, "` is not in PEM format (no `", marker, "` line)"));
  }
  return absl::OkStatus();
}

struct LoadedFiles {
  std::string ca;
  std::string cert;
  std::string key;
};

absl::StatusOr<LoadedFiles> LoadFiles(const TlsFiles& files) {
  LoadedFiles loaded;
  TESSERA_ASSIGN_OR_RETURN(loaded.ca, ReadFileToString(files.ca_file, "CA certificate"));
  TESSERA_RETURN_IF_ERROR(CheckPem(loaded.ca, files.ca_file, "-----BEGIN CERTIFICATE-----",
                                   "CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(loaded.cert, ReadFileToString(files.cert_file, "certificate"));
  TESSERA_RETURN_IF_ERROR(
      CheckPem(loaded.cert, files.cert_file, "-----BEGIN CERTIFICATE-----", "certificate"));
  TESSERA_RETURN_IF_ERROR(CheckPrivateKeyFileMode(files.key_file));
  TESSERA_ASSIGN_OR_RETURN(loaded.key, ReadFileToString(files.key_file, "private key"));
  TESSERA_RETURN_IF_ERROR(CheckPem(loaded.key, files.key_file, "PRIVATE KEY-----", "private key"));
  return loaded;
}

}  // namespace

absl::Status RestrictProcessToTls13() {
  // OpenSSL loads configuration from a file only; write ours to a private
  // temporary file, load it, and remove it.
  char path[] = "/tmp/tessera-openssl-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        "cannot create a temporary OpenSSL configuration in /tmp; check that /tmp is writable");
  }
  const size_t length = sizeof(kTls13OnlyConfig) - 1;
  bool ok = ::write(fd, kTls13OnlyConfig, length) == static_cast<ssize_t>(length);
  ::close(fd);
  if (!ok) {
    ::unlink(path);
    return absl::FailedPreconditionError("cannot write the temporary OpenSSL configuration");
  }
  OPENSSL_INIT_SETTINGS* settings = OPENSSL_INIT_new();
  if (settings == nullptr) {
    ::unlink(path);
    return absl::ResourceExhaustedError("OpenSSL could not allocate its init settings");
  }
  OPENSSL_INIT_set_config_filename(settings, path);
  OPENSSL_INIT_set_config_file_flags(settings, 0);
  int result = OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, settings);
  OPENSSL_INIT_free(settings);
  ::unlink(path);
  if (result != 1) {
    return absl::FailedPreconditionError(
        "OpenSSL refused the TLS 1.3-only configuration; is OpenSSL 3 installed?");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files) {
  TESSERA_ASSIGN_OR_RETURN(LoadedFiles loaded, LoadFiles(files));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = loaded.ca;
  options.pem_cert_chain = loaded.cert;
  options.pem_private_key = loaded.key;
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  TESSERA_ASSIGN_OR_RETURN(LoadedFiles loaded, LoadFiles(files));
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = loaded.ca;
  options.pem_key_cert_pairs.push_back({loaded.key, loaded.cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace tessera::transport
