// HKDF with SHA-256 (RFC 5869 §2: extract then expand), through OpenSSL's
// EVP_KDF "HKDF".
//
// Thread-safety: stateless.
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace tessera::crypto {

// OKM = HKDF-Expand(HKDF-Extract(salt, ikm), info, length) (RFC 5869 §2.2,
// §2.3). An empty salt means HashLen zero bytes, as the RFC says.
// INVALID_ARGUMENT when `length` is 0 or more than 255 * 32 bytes (RFC 5869
// §2.3's limit); INTERNAL when OpenSSL fails.
absl::StatusOr<SecretBytes> HkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, size_t length);

}  // namespace tessera::crypto
