// SHA-256 (FIPS 180-4 §6.2), one-shot and incremental, through OpenSSL's EVP
// digest interface.
//
// Thread-safety: Sha256Hasher is a plain value (one hasher per thread);
// Sha256() is stateless.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "crypto/bytes.h"
#include "crypto/openssl_util.h"

namespace tessera::crypto {

inline constexpr size_t kSha256Size = 32;
using Sha256Digest = std::array<uint8_t, kSha256Size>;

// The SHA-256 digest of `data`.
Sha256Digest Sha256(ByteSpan data);

// The lower-case hex form of a digest (64 characters): how Tessera names
// objects, models and parameters on the wire and in the store.
std::string DigestHex(const Sha256Digest& digest);
// DigestHex(Sha256(data)).
std::string Sha256Hex(absl::string_view data);
// True when `text` is 64 lower-case hex digits.
bool IsSha256Hex(absl::string_view text);

// Incremental SHA-256: Update any number of times, then Finish once.
// OpenSSL failures here can only mean memory exhaustion or a broken library
// and abort the process (see DieOnOpenSslFailure).
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) = default;
  Sha256Hasher& operator=(Sha256Hasher&&) = default;

  Sha256Hasher& Update(ByteSpan data);
  // Big-endian fixed-width integers and length-prefixed strings, for hashing
  // structured values without ambiguity.
  Sha256Hasher& UpdateU32(uint32_t value);
  Sha256Hasher& UpdateU64(uint64_t value);
  Sha256Hasher& UpdateLengthPrefixed(ByteSpan data);
  // The digest of everything passed to Update. Precondition: not yet
  // finished.
  Sha256Digest Finish();

 private:
  EvpMdCtxPtr ctx_;
};

}  // namespace tessera::crypto
