// Shamir secret sharing (Shamir, "How to share a secret", CACM 1979) of
// 32-byte secrets over GF(2^16), with detection and location of corrupted
// shares.
//
// Field choice. A 32-byte secret is split into 16 coordinates in GF(2^16)
// (crypto/gf65536.h), and each coordinate is shared with its own random
// polynomial of degree t - 1 whose constant term is the coordinate. A share
// is the 16 evaluations at the holder's nonzero index x in 1..65535, i.e. 32
// bytes, the size of the secret. Since the coefficients are uniform and
// independent, any t - 1 shares are uniformly distributed whatever the
// secret: the scheme is information-theoretically hiding for fewer than t
// shares. GF(2^16) rather than a prime field such as GF(2^255 - 19) because
// a 256-bit secret does not fit below that prime; rather than GF(2^8)
// because secure aggregation needs more than 255 holders; and because the
// arithmetic is simple, exact and constant-time without big-number code.
//
// Corruption. With exactly t shares any values reconstruct *some* secret, so
// a corrupted share can only be caught with extra information. The dealer
// publishes a commitment SHA-256(label || context || secret)
// (ShamirCommitment), or the caller has another check (secure aggregation
// checks a reconstructed X25519 private key against the public key it
// advertised). ShamirReconstructChecked then searches t-subsets of the
// shares it has, in colexicographic order, for one whose secret passes the
// check, and names every share that is inconsistent with it. With e
// corrupted shares among the first t + e, the search needs at most
// C(t + e, e) attempts (t + 1 for one bad share).
//
// Thread-safety: stateless.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"

namespace tessera::crypto {

inline constexpr size_t kShamirSecretSize = 32;
inline constexpr size_t kShamirShareSize = 32;
inline constexpr uint32_t kShamirMaxShares = 65535;
// How many t-subsets ShamirReconstructChecked tries before giving up.
inline constexpr size_t kShamirDefaultMaxAttempts = 4096;

struct ShamirShare {
  uint16_t index = 0;  // the holder's evaluation point, 1..65535
  SecretBytes value;   // 32 bytes: the 16 coordinates, little-endian
};

// Splits `secret` (32 bytes) into one share per entry of `indices` (distinct,
// nonzero), any `threshold` of which reconstruct it. Coefficients come from
// the OS CSPRNG and are wiped after use. INVALID_ARGUMENT when the secret is
// not 32 bytes, threshold is 0 or larger than the number of indices, or an
// index is 0 or repeated; INTERNAL when the random generator fails.
absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(ByteSpan secret, uint32_t threshold,
                                                     absl::Span<const uint16_t> indices);

// Reconstructs the secret from at least `threshold` shares by Lagrange
// interpolation at 0. With more than `threshold` shares, checks that all of
// them lie on one polynomial of degree < threshold. INVALID_ARGUMENT for
// fewer than `threshold` shares, a share that is not 32 bytes, an index 0 or
// a repeated index; DATA_LOSS when the shares are inconsistent (at least one
// is corrupted; use ShamirReconstructChecked to find which).
absl::StatusOr<SecretBytes> ShamirReconstruct(absl::Span<const ShamirShare> shares,
                                              uint32_t threshold);

struct CheckedSecret {
  SecretBytes secret;
  // Indices of shares that do not lie on the polynomial of the accepted
  // secret (corrupted shares), in the order given.
  std::vector<uint16_t> inconsistent_indices;
};

// Reconstructs a secret for which `is_correct(secret)` is true, tolerating
// corrupted shares as described above, and names the corrupted ones.
// INVALID_ARGUMENT as ShamirReconstruct; DATA_LOSS naming how many shares
// were tried when no t-subset within `max_attempts` passes the check (too
// many shares are corrupted).
absl::StatusOr<CheckedSecret> ShamirReconstructChecked(
    absl::Span<const ShamirShare> shares, uint32_t threshold,
    absl::FunctionRef<bool(ByteSpan candidate)> is_correct,
    size_t max_attempts = kShamirDefaultMaxAttempts);

// The dealer's commitment to `secret`: SHA-256 over a fixed label, the
// length-prefixed `context` (what the secret belongs to, so a commitment
// cannot be replayed elsewhere) and the secret. Hiding as long as the secret
// has high entropy (it is a uniformly random key in Tessera).
Sha256Digest ShamirCommitment(ByteSpan secret, ByteSpan context);

// ShamirReconstructChecked with the check "ShamirCommitment(secret, context)
// equals `commitment`" (compared in constant time).
absl::StatusOr<CheckedSecret> ShamirReconstructCommitted(absl::Span<const ShamirShare> shares,
                                                         uint32_t threshold,
                                                         const Sha256Digest& commitment,
                                                         ByteSpan context);

}  // namespace tessera::crypto
