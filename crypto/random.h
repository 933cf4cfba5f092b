// The operating system's cryptographically secure random generator, for keys,
// seeds and nonces (OpenSSL's private DRBG, RAND_priv_bytes, seeded from the
// OS).
//
// This is one of Tessera's three kinds of randomness and is never mixed with
// the other two: the keyed AES-CTR mask generator (crypto/aes_ctr_prg.h,
// deterministic by design) and seedable generators for tests and simulations.
//
// Thread-safety: safe to call from any thread.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace tessera::crypto {

// Fills `out` with random bytes. INTERNAL when the generator fails (it is not
// seeded, or the OS source failed); `out` is then wiped.
absl::Status RandomBytes(MutableByteSpan out);

// `size` random bytes in a SecretBytes. INTERNAL as RandomBytes.
absl::StatusOr<SecretBytes> RandomSecret(size_t size);

}  // namespace tessera::crypto
