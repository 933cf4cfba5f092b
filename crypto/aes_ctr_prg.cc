#include "crypto/aes_ctr_prg.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"

namespace tessera::crypto {
namespace {

// Large enough for OpenSSL's bulk AES-NI path, small enough to stay in L1.
constexpr size_t kBlockBytes = 16 * 1024;
constexpr size_t kBlockWords = kBlockBytes / sizeof(uint32_t);

const uint8_t* Zeros() {
  alignas(64) static const uint8_t zeros[kBlockBytes] = {};
  return zeros;
}

#if !defined(ABSL_IS_LITTLE_ENDIAN)
// Keystream words are defined as little-endian; big-endian hosts swap.
void LittleEndianToHost(absl::Span<uint32_t> words) {
  for (uint32_t& word : words) word = __builtin_bswap32(word);
}
#endif

}  // namespace

absl::StatusOr<std::unique_ptr<AesCtrPrg>> AesCtrPrg::Create(ByteSpan key) {
  const uint8_t zero_counter[kCounterSize] = {};
  return Create(key, zero_counter);
}

absl::StatusOr<std::unique_ptr<AesCtrPrg>> AesCtrPrg::Create(ByteSpan key,
                                                             ByteSpan initial_counter) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("the AES-256-CTR mask generator takes a ",
                                                   kKeySize, "-byte key, got ", key.size()));
  }
  if (initial_counter.size() != kCounterSize) {
    return absl::InvalidArgumentError(absl::StrCat("an AES-CTR counter block is ", kCounterSize,
                                                   " bytes, got ", initial_counter.size()));
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, key.data(),
                                           initial_counter.data()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot initialise AES-256-CTR");
  }
  return std::unique_ptr<AesCtrPrg>(new AesCtrPrg(std::move(ctx)));
}

void AesCtrPrg::FillBytes(MutableByteSpan out) {
  // Encrypting zeros yields the keystream itself (SP 800-38A §6.5).
  for (size_t offset = 0; offset < out.size(); offset += kBlockBytes) {
    const size_t chunk = std::min(kBlockBytes, out.size() - offset);
    int written = 0;
    if (EVP_EncryptUpdate(ctx_.get(), out.data() + offset, &written, Zeros(),
                          static_cast<int>(chunk)) != 1 ||
        static_cast<size_t>(written) != chunk) {
      DieOnOpenSslFailure("EVP_EncryptUpdate(AES-256-CTR)");
    }
  }
}

void AesCtrPrg::Fill(absl::Span<uint32_t> out) {
  FillBytes(MutableByteSpan(reinterpret_cast<uint8_t*>(out.data()), out.size() * sizeof(uint32_t)));
#if !defined(ABSL_IS_LITTLE_ENDIAN)
  LittleEndianToHost(out);
#endif
}

template <typename Combine>
void AesCtrPrg::FoldInto(absl::Span<uint32_t> accumulator, Combine combine) {
  alignas(64) uint32_t block[kBlockWords];
  size_t offset = 0;
  // Whole blocks: a fixed trip count over non-aliasing arrays, which the
  // compiler vectorises.
  for (; offset + kBlockWords <= accumulator.size(); offset += kBlockWords) {
    Fill(absl::Span<uint32_t>(block, kBlockWords));
    uint32_t* __restrict target = accumulator.data() + offset;
    const uint32_t* __restrict mask = block;
    for (size_t i = 0; i < kBlockWords; ++i) target[i] = combine(target[i], mask[i]);
  }
  const size_t rest = accumulator.size() - offset;
  Fill(absl::Span<uint32_t>(block, rest));
  for (size_t i = 0; i < rest; ++i) {
    accumulator[offset + i] = combine(accumulator[offset + i], block[i]);
  }
}

void AesCtrPrg::AddTo(absl::Span<uint32_t> accumulator) {
  FoldInto(accumulator, [](uint32_t a, uint32_t b) { return a + b; });
}

void AesCtrPrg::SubtractFrom(absl::Span<uint32_t> accumulator) {
  FoldInto(accumulator, [](uint32_t a, uint32_t b) { return a - b; });
}

}  // namespace tessera::crypto
