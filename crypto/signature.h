// Digital signatures with a site's certificate key: ECDSA over P-256 with
// SHA-256 (FIPS 186-4 §6, the key type the federation PKI issues; signatures
// DER-encoded as in RFC 5480/X9.62) and Ed25519 (RFC 8032 §5.1, pure
// Ed25519).
//
// Signing goes through the small Signer interface, so the daemon can supply
// the key however it holds it; PrivateKeySigner is the implementation that
// takes a PEM private key. SignatureVerifier checks signatures against a
// public key (from PEM, or from a certificate: crypto/certificate.h).
//
// Thread-safety: PrivateKeySigner and SignatureVerifier are immutable after
// creation; their const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/bytes.h"
#include "crypto/openssl_util.h"

namespace tessera::crypto {

enum class SignatureAlgorithm {
  kEcdsaP256Sha256,  // FIPS 186-4 ECDSA, curve P-256, SHA-256; DER signature
  kEd25519,          // RFC 8032 PureEdDSA over edwards25519; 64-byte signature
};

// Something that signs messages with one private key.
class Signer {
 public:
  virtual ~Signer() = default;
  // A signature over `message`. INTERNAL when the key cannot sign.
  virtual absl::StatusOr<std::vector<uint8_t>> Sign(ByteSpan message) const = 0;
};

class PrivateKeySigner final : public Signer {
 public:
  // Loads a private key in PEM (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE
  // KEY", unencrypted). INVALID_ARGUMENT when the text is not a PEM private
  // key or the key is neither P-256 nor Ed25519. The PEM text is not kept.
  static absl::StatusOr<std::unique_ptr<PrivateKeySigner>> FromPem(absl::string_view pem);

  SignatureAlgorithm algorithm() const { return algorithm_; }
  absl::StatusOr<std::vector<uint8_t>> Sign(ByteSpan message) const override;

 private:
  PrivateKeySigner(EvpPkeyPtr key, SignatureAlgorithm algorithm)
      : key_(std::move(key)), algorithm_(algorithm) {}
  EvpPkeyPtr key_;
  SignatureAlgorithm algorithm_;
};

class SignatureVerifier {
 public:
  // From a PEM public key ("PUBLIC KEY", SubjectPublicKeyInfo).
  // INVALID_ARGUMENT when it is not one or the key is neither P-256 nor
  // Ed25519.
  static absl::StatusOr<std::unique_ptr<SignatureVerifier>> FromPublicKeyPem(absl::string_view pem);
  // Takes ownership of `key`; INVALID_ARGUMENT as FromPublicKeyPem.
  static absl::StatusOr<std::unique_ptr<SignatureVerifier>> FromKey(EvpPkeyPtr key);

  SignatureVerifier(const SignatureVerifier&) = delete;
  SignatureVerifier& operator=(const SignatureVerifier&) = delete;

  SignatureAlgorithm algorithm() const { return algorithm_; }
  // OK when `signature` is a valid signature of `message` under this key;
  // UNAUTHENTICATED otherwise (including malformed signatures).
  absl::Status Verify(ByteSpan message, ByteSpan signature) const;

 private:
  SignatureVerifier(EvpPkeyPtr key, SignatureAlgorithm algorithm)
      : key_(std::move(key)), algorithm_(algorithm) {}
  EvpPkeyPtr key_;
  SignatureAlgorithm algorithm_;
};

// The algorithm of `key`, or INVALID_ARGUMENT naming its type when Tessera
// does not sign with it (only P-256 ECDSA and Ed25519 are accepted).
absl::StatusOr<SignatureAlgorithm> SupportedSignatureAlgorithm(const EVP_PKEY* key);

}  // namespace tessera::crypto
