#include "crypto/shamir.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/gf65536.h"
#include "crypto/random.h"

namespace tessera::crypto {
namespace {

using gf65536::Lanes;

constexpr char kCommitmentLabel[] = "tessera/shamir/commitment/v1";

Lanes ToLanes(const uint8_t* bytes) {
  Lanes lanes;
  for (size_t i = 0; i < gf65536::kLanes; ++i) {
    lanes[i] = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  }
  return lanes;
}

void FromLanes(const Lanes& lanes, uint8_t* bytes) {
  for (size_t i = 0; i < gf65536::kLanes; ++i) {
    bytes[2 * i] = static_cast<uint8_t>(lanes[i]);
    bytes[2 * i + 1] = static_cast<uint8_t>(lanes[i] >> 8);
  }
}

// Share values converted to lanes, wiped when done.
class SecretLanes {
 public:
  explicit SecretLanes(size_t count) : lanes_(count) {}
  SecretLanes(const SecretLanes&) = delete;
  SecretLanes& operator=(const SecretLanes&) = delete;
  ~SecretLanes() {
    if (!lanes_.empty()) OPENSSL_cleanse(lanes_.data(), lanes_.size() * sizeof(Lanes));
  }
  Lanes& operator[](size_t i) { return lanes_[i]; }
  const Lanes& operator[](size_t i) const { return lanes_[i]; }

 private:
  std::vector<Lanes> lanes_;
};

absl::Status ValidateIndices(absl::Span<const uint16_t> indices) {
  std::vector<bool> seen(size_t{kShamirMaxShares} + 1, false);
  for (uint16_t index : indices) {
    if (index == 0) {
      return absl::InvalidArgumentError("Shamir share index 0 is not allowed (it is the secret)");
    }
    if (seen[index]) {
      return absl::InvalidArgumentError(absl::StrCat("Shamir share index ", index, " is repeated"));
    }
    seen[index] = true;
  }
  return absl::OkStatus();
}

absl::Status ValidateShares(absl::Span<const ShamirShare> shares, uint32_t threshold) {
  if (threshold == 0) return absl::InvalidArgumentError("Shamir threshold must be at least 1");
  if (shares.size() < threshold) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir reconstruction needs ", threshold, " shares, got ", shares.size()));
  }
  std::vector<uint16_t> indices;
  indices.reserve(shares.size());
  for (const ShamirShare& share : shares) {
    if (share.value.size() != kShamirShareSize) {
      return absl::InvalidArgumentError(absl::StrCat("Shamir share ", share.index, " is ",
                                                     share.value.size(), " bytes, expected ",
                                                     kShamirShareSize));
    }
    indices.push_back(share.index);
  }
  return ValidateIndices(indices);
}

// Lagrange basis weights for one set of distinct nonzero points x_0..x_{t-1}:
// w_i(z) = prod_{j != i} (z - x_j) / (x_i - x_j), so that f(z) = sum_i w_i(z)
// f(x_i) for every f of degree < t. In characteristic 2, minus is XOR. The
// points are public, so nothing here is secret.
class LagrangeBasis {
 public:
  explicit LagrangeBasis(std::vector<uint16_t> points)
      : points_(std::move(points)), inverse_denominators_(points_.size()) {
    for (size_t i = 0; i < points_.size(); ++i) {
      uint16_t denominator = 1;
      for (size_t j = 0; j < points_.size(); ++j) {
        if (j != i) {
          denominator =
              gf65536::Multiply(denominator, static_cast<uint16_t>(points_[i] ^ points_[j]));
        }
      }
      inverse_denominators_[i] = gf65536::Inverse(denominator);
    }
  }

  // The weights at z, by prefix and suffix products of (z - x_j).
  std::vector<uint16_t> WeightsAt(uint16_t z) const {
    const size_t t = points_.size();
    std::vector<uint16_t> suffix(t + 1, 1);
    for (size_t j = t; j-- > 0;) {
      suffix[j] = gf65536::Multiply(suffix[j + 1], static_cast<uint16_t>(z ^ points_[j]));
    }
    std::vector<uint16_t> weights(t);
    uint16_t prefix = 1;
    for (size_t i = 0; i < t; ++i) {
      weights[i] =
          gf65536::Multiply(gf65536::Multiply(prefix, suffix[i + 1]), inverse_denominators_[i]);
      prefix = gf65536::Multiply(prefix, static_cast<uint16_t>(z ^ points_[i]));
    }
    return weights;
  }

 private:
  std::vector<uint16_t> points_;
  std::vector<uint16_t> inverse_denominators_;
};

// The shares' lanes (all of them) and indices.
struct ShareSet {
  explicit ShareSet(absl::Span<const ShamirShare> shares) : values(shares.size()) {
    for (size_t i = 0; i < shares.size(); ++i) {
      values[i] = ToLanes(shares[i].value.data());
      indices.push_back(shares[i].index);
    }
  }
  SecretLanes values;
  std::vector<uint16_t> indices;
};

Lanes Interpolate(const ShareSet& set, absl::Span<const size_t> subset,
                  absl::Span<const uint16_t> weights) {
  Lanes value{};
  for (size_t i = 0; i < subset.size(); ++i) {
    gf65536::AddLanes(value, gf65536::MultiplyLanes(set.values[subset[i]], weights[i]));
  }
  return value;
}

struct SubsetResult {
  SecretBytes secret;
  std::vector<uint16_t> inconsistent;  // indices of shares off the polynomial
};

// Interpolates the polynomial through the shares in `subset`: its value at 0
// and the indices of the other shares that do not lie on it.
SubsetResult InterpolateSubset(const ShareSet& set, absl::Span<const size_t> subset) {
  std::vector<uint16_t> points;
  points.reserve(subset.size());
  for (size_t member : subset) points.push_back(set.indices[member]);
  const LagrangeBasis basis(std::move(points));

  SubsetResult result;
  result.secret = SecretBytes(kShamirSecretSize);
  Lanes at_zero = Interpolate(set, subset, basis.WeightsAt(0));
  FromLanes(at_zero, result.secret.data());
  OPENSSL_cleanse(at_zero.data(), sizeof(at_zero));

  std::vector<bool> in_subset(set.indices.size(), false);
  for (size_t member : subset) in_subset[member] = true;
  for (size_t k = 0; k < set.indices.size(); ++k) {
    if (in_subset[k]) continue;
    Lanes predicted = Interpolate(set, subset, basis.WeightsAt(set.indices[k]));
    if (predicted != set.values[k]) result.inconsistent.push_back(set.indices[k]);
    OPENSSL_cleanse(predicted.data(), sizeof(predicted));
  }
  return result;
}

// Advances `subset` (strictly increasing positions in 0..n-1) to the next
// subset of the same size in colexicographic order; false after the last.
bool NextColex(std::vector<size_t>& subset, size_t n) {
  const size_t t = subset.size();
  for (size_t i = 0; i < t; ++i) {
    const size_t limit = i + 1 < t ? subset[i + 1] : n;
    if (subset[i] + 1 < limit) {
      ++subset[i];
      for (size_t j = 0; j < i; ++j) subset[j] = j;
      return true;
    }
  }
  return false;
}

std::vector<size_t> FirstSubset(uint32_t threshold) {
  std::vector<size_t> subset(threshold);
  for (size_t i = 0; i < subset.size(); ++i) subset[i] = i;
  return subset;
}

}  // namespace

absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(ByteSpan secret, uint32_t threshold,
                                                     absl::Span<const uint16_t> indices) {
  if (secret.size() != kShamirSecretSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir secrets are ", kShamirSecretSize, " bytes, got ", secret.size()));
  }
  if (threshold == 0 || threshold > indices.size()) {
    return absl::InvalidArgumentError(absl::StrCat("Shamir threshold must be between 1 and the ",
                                                   indices.size(), " holders, got ", threshold));
  }
  TESSERA_RETURN_IF_ERROR(ValidateIndices(indices));

  // Coefficients a_1..a_{t-1} of each coordinate's polynomial (a_0 is the
  // secret), uniformly random.
  const size_t degree = threshold - 1;
  TESSERA_ASSIGN_OR_RETURN(SecretBytes random, RandomSecret(degree * kShamirSecretSize));
  SecretLanes coefficients(degree + 1);
  coefficients[0] = ToLanes(secret.data());
  for (size_t k = 1; k <= degree; ++k) {
    coefficients[k] = ToLanes(random.data() + (k - 1) * kShamirSecretSize);
  }

  std::vector<ShamirShare> shares;
  shares.reserve(indices.size());
  SecretLanes value(1);
  for (uint16_t x : indices) {
    // Horner: f(x) = (...(a_{t-1} x + a_{t-2}) x + ...) x + a_0.
    value[0] = coefficients[degree];
    for (size_t k = degree; k-- > 0;) {
      value[0] = gf65536::MultiplyLanes(value[0], x);
      gf65536::AddLanes(value[0], coefficients[k]);
    }
    ShamirShare share;
    share.index = x;
    share.value = SecretBytes(kShamirShareSize);
    FromLanes(value[0], share.value.data());
    shares.push_back(std::move(share));
  }
  return shares;
}

absl::StatusOr<SecretBytes> ShamirReconstruct(absl::Span<const ShamirShare> shares,
                                              uint32_t threshold) {
  TESSERA_RETURN_IF_ERROR(ValidateShares(shares, threshold));
  const ShareSet set(shares);
  SubsetResult result = InterpolateSubset(set, FirstSubset(threshold));
  if (!result.inconsistent.empty()) {
    return absl::DataLossError(absl::StrCat(
        "the ", shares.size(), " Shamir shares do not lie on one polynomial of degree < ",
        threshold, ": at least one is corrupted (without a commitment it is unknown which)"));
  }
  return std::move(result.secret);
}

absl::StatusOr<CheckedSecret> ShamirReconstructChecked(
    absl::Span<const ShamirShare> shares, uint32_t threshold,
    absl::FunctionRef<bool(ByteSpan candidate)> is_correct, size_t max_attempts) {
  TESSERA_RETURN_IF_ERROR(ValidateShares(shares, threshold));
  const ShareSet set(shares);
  std::vector<size_t> subset = FirstSubset(threshold);
  size_t attempts = 0;
  do {
    ++attempts;
    SubsetResult result = InterpolateSubset(set, subset);
    if (is_correct(result.secret.span())) {
      return CheckedSecret{std::move(result.secret), std::move(result.inconsistent)};
    }
  } while (attempts < max_attempts && NextColex(subset, shares.size()));
  return absl::DataLossError(absl::StrCat("no ", threshold, " of the ", shares.size(),
                                          " Shamir shares reconstruct the committed secret (",
                                          attempts,
                                          " subsets tried): too many shares are corrupted"));
}

Sha256Digest ShamirCommitment(ByteSpan secret, ByteSpan context) {
  return Sha256Hasher()
      .Update(AsBytes(kCommitmentLabel))
      .UpdateLengthPrefixed(context)
      .Update(secret)
      .Finish();
}

absl::StatusOr<CheckedSecret> ShamirReconstructCommitted(absl::Span<const ShamirShare> shares,
                                                         uint32_t threshold,
                                                         const Sha256Digest& commitment,
                                                         ByteSpan context) {
  return ShamirReconstructChecked(shares, threshold, [&](ByteSpan candidate) {
    return ConstantTimeEquals(ShamirCommitment(candidate, context), commitment);
  });
}

}  // namespace tessera::crypto
