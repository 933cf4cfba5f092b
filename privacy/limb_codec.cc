#include "privacy/limb_codec.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace tessera::privacy {
namespace {

constexpr int kMinLimbBits = 4;

// ceil(log2(n)) for n >= 1.
int CeilLog2(int64_t n) {
  int bits = 0;
  while (bits < 63 && (int64_t{1} << bits) < n) ++bits;
  return bits;
}

// A broken precondition is a bug in the caller, not bad input: stop loudly.
void Require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "LimbCodec: precondition failed: %s\n", what);
  std::abort();
}

}  // namespace

absl::StatusOr<LimbCodec> LimbCodec::Create(int ring_bits, int64_t max_summands) {
  if (ring_bits < 2 || ring_bits > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("ring bit width must be in 2..32, got ", ring_bits));
  }
  if (max_summands < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the number of summands must be at least 1, got ", max_summands));
  }
  const int headroom = CeilLog2(max_summands);
  const int limb_bits = ring_bits - headroom;
  if (limb_bits < kMinLimbBits) {
    const int needed = kMinLimbBits + headroom;
    const std::string fix = needed <= 32
                                ? absl::StrCat("use a bit width of at least ", needed)
                                : std::string("no bit width up to 32 works; sum fewer values");
    return absl::InvalidArgumentError(
        absl::StrCat("a ", ring_bits, "-bit ring leaves ", limb_bits, " bits per limb for sums of ",
                     max_summands, " values (at least ", kMinLimbBits, " needed); ", fix));
  }
  const int limbs = (64 + limb_bits - 1) / limb_bits;
  return LimbCodec(ring_bits, limb_bits, limbs);
}

void LimbCodec::Encode(int64_t value, absl::Span<uint32_t> out) const {
  Require(out.size() == static_cast<size_t>(limbs_), "Encode output has limbs() words");
  const uint64_t bits = static_cast<uint64_t>(value);
  const uint64_t mask = (uint64_t{1} << limb_bits_) - 1;
  for (int j = 0; j < limbs_; ++j) {
    out[static_cast<size_t>(j)] = static_cast<uint32_t>((bits >> (limb_bits_ * j)) & mask);
  }
}

int64_t LimbCodec::Decode(absl::Span<const uint32_t> summed) const {
  Require(summed.size() == static_cast<size_t>(limbs_), "Decode input has limbs() words");
  uint64_t total = 0;
  for (int j = 0; j < limbs_; ++j) {
    const uint32_t word = summed[static_cast<size_t>(j)];
    Require(ring_bits_ == 32 || word < (uint32_t{1} << ring_bits_),
            "Decode input words are reduced modulo 2^ring_bits");
    // Unsigned arithmetic wraps modulo 2^64, which is the ring the sum of
    // two's-complement values lives in.
    total += static_cast<uint64_t>(word) << (limb_bits_ * j);
  }
  return static_cast<int64_t>(total);
}

}  // namespace tessera::privacy
