#include "crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>

#include "common/status.h"
#include "crypto/openssl_util.h"

namespace tessera::crypto {

absl::Status RandomBytes(MutableByteSpan out) {
  size_t done = 0;
  while (done < out.size()) {
    const size_t chunk = std::min<size_t>(out.size() - done, INT_MAX);
    if (RAND_priv_bytes(out.data() + done, static_cast<int>(chunk)) != 1) {
      OPENSSL_cleanse(out.data(), out.size());
      return OpenSslError(absl::StatusCode::kInternal,
                          "the system random generator (RAND_priv_bytes) failed");
    }
    done += chunk;
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> RandomSecret(size_t size) {
  SecretBytes secret(size);
  TESSERA_RETURN_IF_ERROR(RandomBytes(secret.mutable_span()));
  return secret;
}

}  // namespace tessera::crypto
