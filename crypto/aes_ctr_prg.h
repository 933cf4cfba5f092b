// The deterministic mask generator of secure aggregation: AES-256 in counter
// mode (NIST SP 800-38A §6.5) keyed with a full 256-bit key, whose keystream
// is read as little-endian uint32 words.
//
// Two parties that share a key get the same words, which is what lets
// pairwise masks cancel and lets the coordinator regenerate a mask from a
// reconstructed seed. It is deterministic by design and must never be used
// where unpredictable randomness is needed (keys, nonces): that is
// crypto/random.h. Each key must be used for one stream only (one vector of
// one round); secagg derives a fresh key per pair, per round, with HKDF.
//
// Speed: the keystream is written straight into the caller's buffer in large
// blocks by OpenSSL's AES-NI code, reading from a small cache-resident block
// of zeros; AddTo/SubtractFrom generate into a cache-resident scratch block
// and fold it into the caller's vector, so a mask is applied without a
// second pass over memory. benchmarks/crypto/ compares it with memcpy.
//
// Thread-safety: an AesCtrPrg holds the position in its stream; use one per
// thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/bytes.h"
#include "crypto/openssl_util.h"

namespace tessera::crypto {

class AesCtrPrg {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kCounterSize = 16;

  // A generator keyed with `key` (exactly 32 bytes) whose first counter block
  // is `initial_counter` (big-endian, incremented as a 128-bit integer per
  // SP 800-38A §B.1); by default zero. INVALID_ARGUMENT for a wrong key or
  // counter length; INTERNAL when OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<AesCtrPrg>> Create(ByteSpan key);
  static absl::StatusOr<std::unique_ptr<AesCtrPrg>> Create(ByteSpan key, ByteSpan initial_counter);

  AesCtrPrg(const AesCtrPrg&) = delete;
  AesCtrPrg& operator=(const AesCtrPrg&) = delete;

  // Writes the next out.size() keystream bytes into `out`.
  void FillBytes(MutableByteSpan out);
  // Writes the next out.size() words (4 keystream bytes each, little-endian)
  // into `out`.
  void Fill(absl::Span<uint32_t> out);
  // accumulator[i] += next word (mod 2^32), for every i.
  void AddTo(absl::Span<uint32_t> accumulator);
  // accumulator[i] -= next word (mod 2^32), for every i.
  void SubtractFrom(absl::Span<uint32_t> accumulator);

 private:
  explicit AesCtrPrg(EvpCipherCtxPtr ctx) : ctx_(std::move(ctx)) {}
  template <typename Combine>
  void FoldInto(absl::Span<uint32_t> accumulator, Combine combine);

  EvpCipherCtxPtr ctx_;
};

}  // namespace tessera::crypto
