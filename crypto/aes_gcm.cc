#include "crypto/aes_gcm.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/openssl_util.h"
#include "crypto/random.h"

namespace tessera::crypto {
namespace {

absl::Status CheckNonce(ByteSpan nonce) {
  if (nonce.size() != AesGcm256::kNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an AES-GCM nonce is ", AesGcm256::kNonceSize, " bytes, got ", nonce.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckLength(ByteSpan data, absl::string_view what) {
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-GCM ", what, " is too long (", data.size(), " bytes)"));
  }
  return absl::OkStatus();
}

// A cipher context initialised with the key and nonce, for encryption or
// decryption.
absl::StatusOr<EvpCipherCtxPtr> NewContext(const SecretBytes& key, ByteSpan nonce, bool encrypt) {
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                          nullptr) != 1 ||
      EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data(), encrypt) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot initialise AES-256-GCM");
  }
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AesGcm256>> AesGcm256::Create(ByteSpan key) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("an AES-256-GCM key is ", kKeySize, " bytes, got ", key.size()));
  }
  return std::unique_ptr<AesGcm256>(new AesGcm256(SecretBytes::CopyFrom(key)));
}

absl::StatusOr<std::vector<uint8_t>> AesGcm256::Seal(ByteSpan nonce, ByteSpan plaintext,
                                                     ByteSpan associated_data) const {
  TESSERA_RETURN_IF_ERROR(CheckNonce(nonce));
  TESSERA_RETURN_IF_ERROR(CheckLength(plaintext, "plaintext"));
  TESSERA_RETURN_IF_ERROR(CheckLength(associated_data, "associated data"));
  TESSERA_ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(key_, nonce, /*encrypt=*/true));

  std::vector<uint8_t> out(plaintext.size() + kTagSize);
  int length = 0;
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &length, associated_data.data(),
                        static_cast<int>(associated_data.size())) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM associated data failed");
  }
  if (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), out.data(), &length, plaintext.data(),
                                              static_cast<int>(plaintext.size())) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM encryption failed");
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + plaintext.size(), &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          out.data() + plaintext.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM tag computation failed");
  }
  return out;
}

absl::Status AesGcm256::OpenInto(ByteSpan nonce, ByteSpan ciphertext_and_tag,
                                 ByteSpan associated_data, MutableByteSpan plaintext_out) const {
  // Wipe the output on every path that does not end in success.
  struct WipeUnlessAuthenticated {
    MutableByteSpan out;
    bool authenticated = false;
    ~WipeUnlessAuthenticated() {
      if (!authenticated && !out.empty()) OPENSSL_cleanse(out.data(), out.size());
    }
  } guard{plaintext_out};

  TESSERA_RETURN_IF_ERROR(CheckNonce(nonce));
  TESSERA_RETURN_IF_ERROR(CheckLength(ciphertext_and_tag, "ciphertext"));
  TESSERA_RETURN_IF_ERROR(CheckLength(associated_data, "associated data"));
  if (ciphertext_and_tag.size() < kTagSize) {
    return absl::InvalidArgumentError(absl::StrCat("an AES-GCM ciphertext is at least ", kTagSize,
                                                   " bytes (the tag), got ",
                                                   ciphertext_and_tag.size()));
  }
  const size_t body = ciphertext_and_tag.size() - kTagSize;
  if (plaintext_out.size() != body) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-GCM output buffer is ", plaintext_out.size(), " bytes, need ", body));
  }
  TESSERA_ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(key_, nonce, /*encrypt=*/false));
  int length = 0;
  if (!associated_data.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &length, associated_data.data(),
                        static_cast<int>(associated_data.size())) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM associated data failed");
  }
  if (body > 0 && EVP_DecryptUpdate(ctx.get(), plaintext_out.data(), &length,
                                    ciphertext_and_tag.data(), static_cast<int>(body)) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM decryption failed");
  }
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer but only reads the tag.
  uint8_t tag[kTagSize];
  std::memcpy(tag, ciphertext_and_tag.data() + body, kTagSize);
  uint8_t final_block[16];
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), tag) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot set the AES-GCM tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), final_block, &length) != 1) {
    ClearOpenSslErrors();
    return absl::UnauthenticatedError(
        "AES-GCM authentication failed: the ciphertext, tag, nonce or associated data were "
        "altered, or the key is wrong");
  }
  guard.authenticated = true;
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> AesGcm256::Open(ByteSpan nonce, ByteSpan ciphertext_and_tag,
                                            ByteSpan associated_data) const {
  // A too-short input gets an empty buffer, and OpenInto reports it.
  SecretBytes plaintext(ciphertext_and_tag.size() >= kTagSize ? ciphertext_and_tag.size() - kTagSize
                                                              : 0);
  TESSERA_RETURN_IF_ERROR(
      OpenInto(nonce, ciphertext_and_tag, associated_data, plaintext.mutable_span()));
  return plaintext;
}

absl::StatusOr<std::vector<uint8_t>> AesGcm256::SealWithRandomNonce(
    ByteSpan plaintext, ByteSpan associated_data) const {
  uint8_t nonce[kNonceSize];
  TESSERA_RETURN_IF_ERROR(RandomBytes(nonce));
  TESSERA_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, Seal(nonce, plaintext, associated_data));
  sealed.insert(sealed.begin(), nonce, nonce + kNonceSize);
  return sealed;
}

absl::StatusOr<SecretBytes> AesGcm256::OpenWithRandomNonce(ByteSpan sealed,
                                                           ByteSpan associated_data) const {
  if (sealed.size() < kNonceSize + kTagSize) {
    return absl::InvalidArgumentError(absl::StrCat("a sealed AES-GCM message is at least ",
                                                   kNonceSize + kTagSize,
                                                   " bytes (nonce and tag), got ", sealed.size()));
  }
  return Open(sealed.subspan(0, kNonceSize), sealed.subspan(kNonceSize), associated_data);
}

}  // namespace tessera::crypto
