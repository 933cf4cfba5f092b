// AES-256-GCM authenticated encryption with associated data (NIST SP 800-38D),
// through OpenSSL's EVP cipher interface: 96-bit nonces and 128-bit tags
// only.
//
// The caller chooses the nonce (Seal/OpenInto) or lets Seal pick a random one
// and put it in front of the ciphertext (SealWithRandomNonce /
// OpenWithRandomNonce). A nonce must never repeat under one key (SP 800-38D
// §8); random 96-bit nonces are safe for far more messages than Tessera
// sends under any key (SP 800-38D §8.3 allows 2^32).
//
// Opening never returns or leaves behind plaintext that failed
// authentication: OpenInto wipes the caller's buffer on every failure.
//
// Thread-safety: an AesGcm256 is immutable after creation (each call uses
// its own cipher context); its const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace tessera::crypto {

class AesGcm256 {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;

  // INVALID_ARGUMENT when `key` is not 32 bytes. The key is copied into a
  // SecretBytes.
  static absl::StatusOr<std::unique_ptr<AesGcm256>> Create(ByteSpan key);

  AesGcm256(const AesGcm256&) = delete;
  AesGcm256& operator=(const AesGcm256&) = delete;

  // ciphertext || tag for `plaintext` under `nonce`, authenticating
  // `associated_data`. INVALID_ARGUMENT when the nonce is not 12 bytes;
  // INTERNAL when OpenSSL fails.
  absl::StatusOr<std::vector<uint8_t>> Seal(ByteSpan nonce, ByteSpan plaintext,
                                            ByteSpan associated_data) const;

  // Decrypts `ciphertext_and_tag` (as made by Seal) into `plaintext_out`,
  // which must be exactly ciphertext_and_tag.size() - 16 bytes.
  // INVALID_ARGUMENT for a wrong nonce, input or output length;
  // UNAUTHENTICATED when the tag does not match (the ciphertext, tag, nonce
  // or associated data were changed, or the key is wrong). On every failure
  // `plaintext_out` is wiped (all zeros).
  absl::Status OpenInto(ByteSpan nonce, ByteSpan ciphertext_and_tag, ByteSpan associated_data,
                        MutableByteSpan plaintext_out) const;

  // OpenInto into a fresh SecretBytes; same errors.
  absl::StatusOr<SecretBytes> Open(ByteSpan nonce, ByteSpan ciphertext_and_tag,
                                   ByteSpan associated_data) const;

  // nonce || ciphertext || tag with a fresh random nonce (from the OS
  // CSPRNG). Errors as Seal, plus INTERNAL when the generator fails.
  absl::StatusOr<std::vector<uint8_t>> SealWithRandomNonce(ByteSpan plaintext,
                                                           ByteSpan associated_data) const;
  // Opens what SealWithRandomNonce made. INVALID_ARGUMENT when it is shorter
  // than a nonce and a tag; otherwise as Open.
  absl::StatusOr<SecretBytes> OpenWithRandomNonce(ByteSpan sealed, ByteSpan associated_data) const;

 private:
  explicit AesGcm256(SecretBytes key) : key_(std::move(key)) {}
  SecretBytes key_;
};

}  // namespace tessera::crypto
