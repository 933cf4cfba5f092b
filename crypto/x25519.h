// X25519 key pairs and Diffie-Hellman agreement (RFC 7748 §5 and §6.1),
// through OpenSSL's EVP_PKEY interface.
//
// Thread-safety: an X25519PrivateKey is immutable after creation; its const
// methods may be called concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/openssl_util.h"
#include "crypto/secret_bytes.h"

namespace tessera::crypto {

inline constexpr size_t kX25519KeySize = 32;
using X25519PublicKey = std::array<uint8_t, kX25519KeySize>;

class X25519PrivateKey {
 public:
  // A fresh key pair from the OS CSPRNG. INTERNAL when OpenSSL fails.
  static absl::StatusOr<X25519PrivateKey> Generate();
  // The key whose 32-byte scalar encoding (RFC 7748 §5, before clamping) is
  // `private_bytes`. INVALID_ARGUMENT when it is not 32 bytes.
  static absl::StatusOr<X25519PrivateKey> FromBytes(ByteSpan private_bytes);

  X25519PrivateKey(X25519PrivateKey&&) = default;
  X25519PrivateKey& operator=(X25519PrivateKey&&) = default;

  // The 32-byte private scalar as given or generated (for Shamir sharing).
  const SecretBytes& private_bytes() const { return private_bytes_; }
  // X25519(k, 9), the public key (RFC 7748 §6.1).
  const X25519PublicKey& public_key() const { return public_key_; }

  // The shared secret X25519(k, peer) (RFC 7748 §6.1). INVALID_ARGUMENT when
  // `peer_public` is not 32 bytes or the result is all zeros (a low-order
  // peer point; §6.1 says to check for it).
  absl::StatusOr<SecretBytes> Agree(ByteSpan peer_public) const;

 private:
  X25519PrivateKey(EvpPkeyPtr key, SecretBytes private_bytes, const X25519PublicKey& public_key)
      : key_(std::move(key)), private_bytes_(std::move(private_bytes)), public_key_(public_key) {}
  static absl::StatusOr<X25519PrivateKey> FromPkey(EvpPkeyPtr key);

  EvpPkeyPtr key_;
  SecretBytes private_bytes_;
  X25519PublicKey public_key_;
};

}  // namespace tessera::crypto
