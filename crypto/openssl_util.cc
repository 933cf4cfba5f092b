#include "crypto/openssl_util.h"

#include <openssl/err.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace tessera::crypto {
namespace {

std::string DrainErrorQueue() {
  std::string reasons;
  while (const unsigned long error = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(error, buffer, sizeof(buffer));
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ", buffer);
  }
  return reasons;
}

}  // namespace

absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  const std::string reasons = DrainErrorQueue();
  if (reasons.empty()) return absl::Status(code, what);
  return absl::Status(code, absl::StrCat(what, " (OpenSSL: ", reasons, ")"));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

void DieOnOpenSslFailure(absl::string_view what) {
  const std::string reasons = DrainErrorQueue();
  std::fprintf(stderr, "tessera crypto: fatal OpenSSL failure in %.*s: %s\n",
               static_cast<int>(what.size()), what.data(), reasons.c_str());
  std::abort();
}

}  // namespace tessera::crypto
