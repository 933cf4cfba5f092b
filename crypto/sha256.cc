#include "crypto/sha256.h"

#include <openssl/evp.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"

namespace tessera::crypto {

Sha256Digest Sha256(ByteSpan data) { return Sha256Hasher().Update(data).Finish(); }

std::string DigestHex(const Sha256Digest& digest) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string Sha256Hex(absl::string_view data) { return DigestHex(Sha256(AsBytes(data))); }

bool IsSha256Hex(absl::string_view text) {
  return text.size() == 2 * kSha256Size &&
         std::all_of(text.begin(), text.end(), [](char c) {
           return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    DieOnOpenSslFailure("EVP_DigestInit_ex(SHA-256)");
  }
}

Sha256Hasher& Sha256Hasher::Update(ByteSpan data) {
  if (!data.empty() && EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
    DieOnOpenSslFailure("EVP_DigestUpdate(SHA-256)");
  }
  return *this;
}

Sha256Hasher& Sha256Hasher::UpdateU32(uint32_t value) {
  const uint8_t bytes[4] = {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                            static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  return Update(bytes);
}

Sha256Hasher& Sha256Hasher::UpdateU64(uint64_t value) {
  UpdateU32(static_cast<uint32_t>(value >> 32));
  return UpdateU32(static_cast<uint32_t>(value));
}

Sha256Hasher& Sha256Hasher::UpdateLengthPrefixed(ByteSpan data) {
  UpdateU64(data.size());
  return Update(data);
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest digest;
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length) != 1 || length != kSha256Size) {
    DieOnOpenSslFailure("EVP_DigestFinal_ex(SHA-256)");
  }
  return digest;
}

}  // namespace tessera::crypto
