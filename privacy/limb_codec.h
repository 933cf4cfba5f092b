// Exact sums of 64-bit integers in a small ring: how counts, loss sums and
// feature sums of squares cross secure aggregation, which only ever reveals
// the sum of the sites' words modulo 2^b (b <= 32).
//
// A value v (int64, two's complement, read as u = v mod 2^64) is split into
// L limbs of w bits, limb j = floor(u / 2^(w j)) mod 2^w, one limb per word,
// with
//   w = b - ceil(log2(max_summands)),   L = ceil(64 / w).
// Each word is at most 2^w - 1, so the sum of max_summands words is at most
// max_summands (2^w - 1) < 2^b: the ring never wraps, and the summed word of
// limb position j is exactly S_j = sum_i limb_ij. Since u_i = sum_j 2^(w j)
// limb_ij, the sum of the values is
//   sum_i v_i = sum_j 2^(w j) S_j   (mod 2^64),
// read back as a signed int64. The sum is therefore exact whenever the true
// sum fits in int64, and equals the wrapped two's-complement sum otherwise
// (exactly what int64 addition with wrap-around would give).
//
// The cost is L words per value: 3 words at b = 32 with up to 2^10 sites
// (w = 22), 5 words at b = 20 with 10 sites (w = 16).
//
// Thread-safety: LimbCodec is an immutable value; its methods may be called
// concurrently.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::privacy {

class LimbCodec {
 public:
  // The codec for sums of at most `max_summands` values in Z_{2^ring_bits}.
  // INVALID_ARGUMENT when ring_bits is outside 2..32, max_summands < 1, or
  // the limb width w = ring_bits - ceil(log2(max_summands)) is below 4 (the
  // message names the smallest bit width that would work, if any).
  static absl::StatusOr<LimbCodec> Create(int ring_bits, int64_t max_summands);

  int ring_bits() const { return ring_bits_; }
  // w: bits carried by each limb.
  int limb_bits() const { return limb_bits_; }
  // L: words per value.
  int limbs() const { return limbs_; }

  // Writes the limbs of `value`, least significant first, into `out`.
  // Precondition: out.size() == limbs() (checked: aborts otherwise).
  void Encode(int64_t value, absl::Span<uint32_t> out) const;

  // The sum of the encoded values from the sum (mod 2^ring_bits) of their
  // words. Precondition: summed.size() == limbs() and the words are reduced
  // modulo 2^ring_bits (checked: aborts otherwise); at most max_summands
  // values were summed (not checkable: more gives a wrong result).
  int64_t Decode(absl::Span<const uint32_t> summed) const;

 private:
  LimbCodec(int ring_bits, int limb_bits, int limbs)
      : ring_bits_(ring_bits), limb_bits_(limb_bits), limbs_(limbs) {}

  int ring_bits_;
  int limb_bits_;
  int limbs_;
};

}  // namespace tessera::privacy
