#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_util.h"

namespace tessera::crypto {
namespace {
constexpr size_t kMaxOutput = 255 * 32;
}  // namespace

absl::StatusOr<SecretBytes> HkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, size_t length) {
  if (length == 0 || length > kMaxOutput) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HKDF-SHA-256 output length must be between 1 and ", kMaxOutput, " bytes, got ", length));
  }
  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (kdf == nullptr) return OpenSslError(absl::StatusCode::kInternal, "cannot fetch HKDF");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr)
    return OpenSslError(absl::StatusCode::kInternal, "cannot create HKDF context");

  // OSSL_PARAM takes non-const pointers; OpenSSL only reads these buffers.
  char digest_name[] = "SHA256";
  uint8_t empty = 0;
  auto octets = [&empty](ByteSpan bytes) {
    return bytes.empty() ? &empty : const_cast<uint8_t*>(bytes.data());
  };
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, octets(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, octets(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, octets(info), info.size()),
      OSSL_PARAM_construct_end()};

  SecretBytes okm(length);
  if (EVP_KDF_derive(ctx.get(), okm.data(), okm.size(), params) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "HKDF-SHA-256 derivation failed");
  }
  return okm;
}

}  // namespace tessera::crypto
