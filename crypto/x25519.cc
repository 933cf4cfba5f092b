#include "crypto/x25519.h"

#include <openssl/evp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::crypto {
namespace {

absl::Status CheckKeySize(ByteSpan key, absl::string_view which) {
  if (key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an X25519 ", which, " key is ", kX25519KeySize, " bytes, got ", key.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<X25519PrivateKey> X25519PrivateKey::FromPkey(EvpPkeyPtr key) {
  SecretBytes private_bytes(kX25519KeySize);
  size_t length = private_bytes.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), private_bytes.data(), &length) != 1 ||
      length != kX25519KeySize) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot read the X25519 private key");
  }
  X25519PublicKey public_key;
  length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 ||
      length != kX25519KeySize) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot read the X25519 public key");
  }
  return X25519PrivateKey(std::move(key), std::move(private_bytes), public_key);
}

absl::StatusOr<X25519PrivateKey> X25519PrivateKey::Generate() {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519 key generation failed");
  }
  return FromPkey(EvpPkeyPtr(raw));
}

absl::StatusOr<X25519PrivateKey> X25519PrivateKey::FromBytes(ByteSpan private_bytes) {
  TESSERA_RETURN_IF_ERROR(CheckKeySize(private_bytes, "private"));
  EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_bytes.data(),
                                              private_bytes.size()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot load an X25519 private key");
  }
  return FromPkey(std::move(key));
}

absl::StatusOr<SecretBytes> X25519PrivateKey::Agree(ByteSpan peer_public) const {
  TESSERA_RETURN_IF_ERROR(CheckKeySize(peer_public, "public"));
  EvpPkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(),
                                              peer_public.size()));
  if (peer == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "cannot load the peer's X25519 key");
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot set up X25519 agreement");
  }
  SecretBytes shared(kX25519KeySize);
  size_t length = shared.size();
  // OpenSSL refuses an all-zero result (RFC 7748 §6.1's check) by failing here.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &length) != 1 || length != kX25519KeySize) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "X25519 agreement failed: the peer's public key is a low-order point");
  }
  return shared;
}

}  // namespace tessera::crypto
