#include "privacy/hadamard.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "privacy/random.h"

namespace tessera::privacy {
namespace {

// Butterflies of span 2h over one contiguous block.
void Butterflies(double* data, size_t size, size_t h) {
  for (size_t start = 0; start < size; start += 2 * h) {
    double* lo = data + start;
    double* hi = lo + h;
    for (size_t j = 0; j < h; ++j) {
      const double a = lo[j];
      const double b = hi[j];
      lo[j] = a + b;
      hi[j] = a - b;
    }
  }
}

}  // namespace

void FastWalshHadamard(absl::Span<double> data) {
  const size_t n = data.size();
  // Small spans first within cache-sized blocks, then the long ones over the
  // whole array: the same butterflies, in an order that stays in L1/L2.
  constexpr size_t kBlock = 4096;
  const size_t block = n < kBlock ? n : kBlock;
  for (size_t start = 0; start < n; start += block) {
    for (size_t h = 1; h < block; h *= 2) Butterflies(data.data() + start, block, h);
  }
  for (size_t h = block; h < n; h *= 2) Butterflies(data.data(), n, h);
}

int64_t PaddedDimension(int64_t n) {
  int64_t padded = 1;
  while (padded < n) padded *= 2;
  return padded;
}

absl::StatusOr<RandomizedHadamard> RandomizedHadamard::Create(int64_t dimension, uint64_t seed) {
  if (dimension < 1 || dimension > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation dimension must be in [1, 2^30], got ", dimension));
  }
  const int64_t padded = PaddedDimension(dimension);
  Xoshiro256StarStar rng(seed);
  std::vector<uint64_t> bits(static_cast<size_t>((padded + 63) / 64));
  for (uint64_t& word : bits) word = rng.NextUint64();
  return RandomizedHadamard(dimension, padded, std::move(bits));
}

void RandomizedHadamard::Rotate(absl::Span<const float> in, double scale,
                                absl::Span<double> out) const {
  const double factor = scale / std::sqrt(static_cast<double>(padded_));
  for (int64_t i = 0; i < dimension_; ++i) {
    out[static_cast<size_t>(i)] = Sign(i) * static_cast<double>(in[static_cast<size_t>(i)]);
  }
  for (int64_t i = dimension_; i < padded_; ++i) out[static_cast<size_t>(i)] = 0.0;
  FastWalshHadamard(out);
  for (double& v : out) v *= factor;
}

void RandomizedHadamard::InverseRotate(absl::Span<double> data, double scale,
                                       absl::Span<float> out) const {
  // U^T = D H / sqrt(n) (H is symmetric).
  FastWalshHadamard(data);
  const double factor = scale / std::sqrt(static_cast<double>(padded_));
  for (int64_t i = 0; i < dimension_; ++i) {
    out[static_cast<size_t>(i)] =
        static_cast<float>(Sign(i) * data[static_cast<size_t>(i)] * factor);
  }
}

}  // namespace tessera::privacy
