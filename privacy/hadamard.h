// The randomised Walsh-Hadamard rotation used before quantisation in
// distributed DP (Kairouz, Liu & Steinke 2021, arXiv:2102.06387, Sec. 4;
// Agarwal, Kairouz & Liu 2021, arXiv:2110.04995, Sec. 4): U = H D / sqrt(n),
// with H the n x n Sylvester-Hadamard matrix (n a power of two, the input
// zero-padded) and D a diagonal of random signs. U is orthogonal, so it keeps
// L2 norms (and hence the sensitivity), while spreading any vector's energy
// evenly over the coordinates so that few need many bits.
//
// The signs come from xoshiro256** seeded with a public per-round seed that
// every site and the coordinator share; the rotation needs no secrecy (the
// privacy analysis holds for any orthogonal U).
//
// Thread-safety: RandomizedHadamard is immutable after construction.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::privacy {

// The unnormalised fast Walsh-Hadamard transform in place: data <- H data.
// Precondition: data.size() is a power of two (or 0).
void FastWalshHadamard(absl::Span<double> data);

// The smallest power of two >= n (1 for n <= 1).
int64_t PaddedDimension(int64_t n);

class RandomizedHadamard {
 public:
  // A rotation of vectors of length `dimension` (>= 1, <= 2^30), padded to
  // PaddedDimension(dimension). INVALID_ARGUMENT outside that range.
  static absl::StatusOr<RandomizedHadamard> Create(int64_t dimension, uint64_t seed);

  int64_t dimension() const { return dimension_; }
  int64_t padded_dimension() const { return padded_; }

  // out = scale * U [in; 0]. Preconditions: in.size() == dimension(),
  // out.size() == padded_dimension().
  void Rotate(absl::Span<const float> in, double scale, absl::Span<double> out) const;

  // data <- U^T data (in place, padded length), then the first dimension()
  // entries times `scale` go to out. Preconditions: data.size() ==
  // padded_dimension(), out.size() == dimension().
  void InverseRotate(absl::Span<double> data, double scale, absl::Span<float> out) const;

 private:
  RandomizedHadamard(int64_t dimension, int64_t padded, std::vector<uint64_t> sign_bits)
      : dimension_(dimension), padded_(padded), sign_bits_(std::move(sign_bits)) {}
  double Sign(int64_t i) const {
    return (sign_bits_[static_cast<size_t>(i >> 6)] >> (i & 63)) & 1 ? -1.0 : 1.0;
  }
  int64_t dimension_;
  int64_t padded_;
  std::vector<uint64_t> sign_bits_;  // bit i set: coordinate i is negated
};

}  // namespace tessera::privacy
