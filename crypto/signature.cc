#include "crypto/signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include <climits>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::crypto {
namespace {

absl::StatusOr<BioPtr> ReadOnlyBio(absl::string_view text) {
  if (text.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("PEM text is too long");
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (bio == nullptr) return OpenSslError(absl::StatusCode::kInternal, "BIO_new_mem_buf failed");
  return bio;
}

// SHA-256 for ECDSA; none for Ed25519, which hashes internally (RFC 8032).
const EVP_MD* DigestFor(SignatureAlgorithm algorithm) {
  return algorithm == SignatureAlgorithm::kEcdsaP256Sha256 ? EVP_sha256() : nullptr;
}

}  // namespace

absl::StatusOr<SignatureAlgorithm> SupportedSignatureAlgorithm(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return SignatureAlgorithm::kEd25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &length) == 1 &&
        std::string(group) == "prime256v1") {
      return SignatureAlgorithm::kEcdsaP256Sha256;
    }
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(
        "EC key on curve `", group, "` is not supported; Tessera signs with P-256 or Ed25519"));
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  return absl::InvalidArgumentError(absl::StrCat("key type `", type == nullptr ? "unknown" : type,
                                                 "` is not supported; Tessera signs with P-256 "
                                                 "ECDSA or Ed25519"));
}

absl::StatusOr<std::unique_ptr<PrivateKeySigner>> PrivateKeySigner::FromPem(absl::string_view pem) {
  TESSERA_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  // A null password callback with an empty passphrase refuses encrypted keys
  // instead of prompting on a terminal.
  char empty_passphrase[] = "";
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, empty_passphrase));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not an unencrypted PEM private key");
  }
  TESSERA_ASSIGN_OR_RETURN(SignatureAlgorithm algorithm, SupportedSignatureAlgorithm(key.get()));
  return std::unique_ptr<PrivateKeySigner>(new PrivateKeySigner(std::move(key), algorithm));
}

absl::StatusOr<std::vector<uint8_t>> PrivateKeySigner::Sign(ByteSpan message) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, DigestFor(algorithm_), nullptr, key_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot initialise signing");
  }
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, message.data(), message.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot size the signature");
  }
  std::vector<uint8_t> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "signing failed");
  }
  signature.resize(length);
  return signature;
}

absl::StatusOr<std::unique_ptr<SignatureVerifier>> SignatureVerifier::FromPublicKeyPem(
    absl::string_view pem) {
  TESSERA_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not a PEM public key");
  }
  return FromKey(std::move(key));
}

absl::StatusOr<std::unique_ptr<SignatureVerifier>> SignatureVerifier::FromKey(EvpPkeyPtr key) {
  if (key == nullptr) return absl::InvalidArgumentError("no public key");
  TESSERA_ASSIGN_OR_RETURN(SignatureAlgorithm algorithm, SupportedSignatureAlgorithm(key.get()));
  return std::unique_ptr<SignatureVerifier>(new SignatureVerifier(std::move(key), algorithm));
}

absl::Status SignatureVerifier::Verify(ByteSpan message, ByteSpan signature) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, DigestFor(algorithm_), nullptr, key_.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot initialise signature verification");
  }
  const int result = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                      message.size());
  if (result != 1) {
    // 0 is a wrong signature; a negative value a malformed one. Both are
    // simply not valid signatures of this message.
    ClearOpenSslErrors();
    return absl::UnauthenticatedError("the signature does not verify under the signer's key");
  }
  return absl::OkStatus();
}

}  // namespace tessera::crypto
