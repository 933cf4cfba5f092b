#include "crypto/shamir.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "crypto/gf65536.h"
#include "crypto/random.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- GF(2^16) ----

// A reference multiplication written differently from the one under test:
// carry-less product into 32 bits, then long division by the modulus.
uint16_t ReferenceMultiply(uint16_t a, uint16_t b) {
  uint32_t product = 0;
  for (int i = 0; i < 16; ++i) {
    if ((b >> i) & 1) product ^= static_cast<uint32_t>(a) << i;
  }
  for (int bit = 31; bit >= 16; --bit) {
    if ((product >> bit) & 1) product ^= gf65536::kModulus << (bit - 16);
  }
  return static_cast<uint16_t>(product);
}

TEST(Gf65536Test, MultiplyMatchesTheReference) {
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) {
    const auto a = static_cast<uint16_t>(rng());
    const auto b = static_cast<uint16_t>(rng());
    ASSERT_EQ(gf65536::Multiply(a, b), ReferenceMultiply(a, b)) << a << " * " << b;
  }
  EXPECT_EQ(gf65536::Multiply(0x8000, 2), 0x100B);  // x^15 * x = x^16 = x^12 + x^3 + x + 1
}

TEST(Gf65536Test, ModulusIsPrimitive) {
  // x has multiplicative order exactly 65535 = 3 * 5 * 17 * 257: x^65535 = 1
  // and x^(65535/p) != 1 for each prime p. So the quotient ring is a field.
  auto power = [](uint16_t base, uint32_t exponent) {
    uint16_t result = 1;
    for (; exponent != 0; exponent >>= 1) {
      if (exponent & 1) result = ReferenceMultiply(result, base);
      base = ReferenceMultiply(base, base);
    }
    return result;
  };
  EXPECT_EQ(power(2, 65535), 1);
  for (uint32_t p : {3u, 5u, 17u, 257u}) EXPECT_NE(power(2, 65535 / p), 1) << p;
}

TEST(Gf65536Test, EveryNonzeroElementHasItsInverse) {
  for (uint32_t a = 1; a <= 0xFFFF; ++a) {
    ASSERT_EQ(
        gf65536::Multiply(static_cast<uint16_t>(a), gf65536::Inverse(static_cast<uint16_t>(a))), 1)
        << a;
  }
  EXPECT_EQ(gf65536::Inverse(0), 0);
}

TEST(Gf65536Test, MultiplyLanesMatchesScalarMultiply) {
  std::mt19937 rng(2);
  for (int round = 0; round < 2000; ++round) {
    gf65536::Lanes lanes;
    for (uint16_t& lane : lanes) lane = static_cast<uint16_t>(rng());
    const auto scalar = static_cast<uint16_t>(rng());
    const gf65536::Lanes product = gf65536::MultiplyLanes(lanes, scalar);
    for (size_t i = 0; i < lanes.size(); ++i) {
      ASSERT_EQ(product[i], ReferenceMultiply(lanes[i], scalar));
    }
  }
}

// ---- Sharing ----

std::vector<uint8_t> RandomBytesOrDie(size_t size) {
  std::vector<uint8_t> bytes(size);
  EXPECT_OK(RandomBytes(absl::MakeSpan(bytes)));
  return bytes;
}

std::vector<uint16_t> Indices(size_t n) {
  std::vector<uint16_t> indices(n);
  std::iota(indices.begin(), indices.end(), 1);
  return indices;
}

std::vector<ShamirShare> Pick(const std::vector<ShamirShare>& shares,
                              const std::vector<size_t>& positions) {
  std::vector<ShamirShare> picked;
  for (size_t position : positions) {
    picked.push_back({shares[position].index, shares[position].value.Clone()});
  }
  return picked;
}

std::vector<uint8_t> ToVector(const SecretBytes& secret) {
  return std::vector<uint8_t>(secret.data(), secret.data() + secret.size());
}

// Exhaustive over n <= 7: every subset of size >= t reconstructs the secret,
// every subset smaller than t is refused.
TEST(ShamirTest, EverySubsetOfAtLeastThresholdReconstructsForSmallN) {
  for (uint32_t n = 1; n <= 7; ++n) {
    for (uint32_t t = 1; t <= n; ++t) {
      const std::vector<uint8_t> secret = RandomBytesOrDie(32);
      ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, t, Indices(n)));
      ASSERT_EQ(shares.size(), n);
      for (uint32_t mask = 1; mask < (1u << n); ++mask) {
        std::vector<size_t> positions;
        for (size_t i = 0; i < n; ++i) {
          if ((mask >> i) & 1) positions.push_back(i);
        }
        const auto subset = Pick(shares, positions);
        absl::StatusOr<SecretBytes> result = ShamirReconstruct(subset, t);
        if (positions.size() >= t) {
          ASSERT_TRUE(result.ok())
              << "n=" << n << " t=" << t << " mask=" << mask << ": " << result.status();
          ASSERT_EQ(ToVector(*result), secret) << "n=" << n << " t=" << t << " mask=" << mask;
        } else {
          ASSERT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs")));
        }
      }
    }
  }
}

// Random cases up to the sizes secure aggregation uses: any random subset of
// at least t of n shares reconstructs, with arbitrary (sparse) indices.
TEST(ShamirTest, RandomSubsetsReconstructForLargeN) {
  std::mt19937 rng(7);
  for (int round = 0; round < 60; ++round) {
    const uint32_t n = 2 + static_cast<uint32_t>(rng() % 299);
    const uint32_t t = 1 + static_cast<uint32_t>(rng() % n);
    std::vector<uint16_t> all(65535);
    std::iota(all.begin(), all.end(), 1);
    std::shuffle(all.begin(), all.end(), rng);
    const std::vector<uint16_t> indices(all.begin(), all.begin() + n);
    const std::vector<uint8_t> secret = RandomBytesOrDie(32);
    ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, t, indices));
    std::vector<size_t> positions(n);
    std::iota(positions.begin(), positions.end(), 0);
    std::shuffle(positions.begin(), positions.end(), rng);
    positions.resize(t + rng() % (n - t + 1));
    ASSERT_OK_AND_ASSIGN(SecretBytes recovered, ShamirReconstruct(Pick(shares, positions), t));
    ASSERT_EQ(ToVector(recovered), secret) << "n=" << n << " t=" << t;
  }
}

// With t >= 2, one share is uniform whatever the secret. We share the
// all-zero secret 40,000 times with t = 2 and histogram one byte of one
// share over 256 bins: chi-square with 255 degrees of freedom, whose
// 1 - 1e-6 quantile is about 377 (Wilson-Hilferty approximation); with the
// bound at 380 the false-failure rate is below 1e-6. A
// share that leaked the secret (e.g. zero coefficients) would put every
// sample in bin 0.
TEST(ShamirTest, OneShareOfATwoOutOfNSharingIsUniform) {
  const std::vector<uint8_t> secret(32, 0);
  constexpr int kSamples = 40000;
  std::vector<int> histogram(256, 0);
  for (int i = 0; i < kSamples; ++i) {
    ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, 2, {5, 9}));
    ++histogram[shares[0].value.data()[7]];
  }
  const double expected = kSamples / 256.0;
  double chi_square = 0;
  for (int count : histogram) chi_square += (count - expected) * (count - expected) / expected;
  EXPECT_LT(chi_square, 380.0);
}

TEST(ShamirTest, ThresholdOneSharesAreTheSecret) {
  const std::vector<uint8_t> secret = RandomBytesOrDie(32);
  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, 1, {3, 4}));
  EXPECT_EQ(ToVector(shares[0].value), secret);
  EXPECT_EQ(ToVector(shares[1].value), secret);
}

TEST(ShamirTest, RejectsBadArguments) {
  const std::vector<uint8_t> secret(32, 1);
  EXPECT_THAT(ShamirSplit(std::vector<uint8_t>(31, 1), 2, {1, 2, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, 0, {1, 2, 3}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, 4, {1, 2, 3}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ShamirSplit(secret, 2, {1, 0, 3}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("index 0")));
  EXPECT_THAT(ShamirSplit(secret, 2, {1, 2, 2}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeated")));

  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, 2, {1, 2, 3}));
  std::vector<ShamirShare> duplicate = Pick(shares, {0, 1});
  duplicate[1].index = duplicate[0].index;
  EXPECT_THAT(ShamirReconstruct(duplicate, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeated")));
  std::vector<ShamirShare> zero = Pick(shares, {0, 1});
  zero[0].index = 0;
  EXPECT_THAT(ShamirReconstruct(zero, 2), StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<ShamirShare> short_share = Pick(shares, {0, 1});
  short_share[1].value.Resize(31);
  EXPECT_THAT(ShamirReconstruct(short_share, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("31 bytes")));
  EXPECT_THAT(ShamirReconstruct(Pick(shares, {0, 1}), 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- Corrupted shares ----

void Corrupt(ShamirShare& share, size_t byte) { share.value.data()[byte % 32] ^= 0x5A; }

TEST(ShamirCorruptionTest, InconsistentSharesAreDetectedWithoutACommitment) {
  const std::vector<uint8_t> secret = RandomBytesOrDie(32);
  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, 3, Indices(5)));
  for (size_t bad = 0; bad < 5; ++bad) {
    std::vector<ShamirShare> copy = Pick(shares, {0, 1, 2, 3, 4});
    Corrupt(copy[bad], bad * 7);
    EXPECT_THAT(ShamirReconstruct(copy, 3), StatusIs(absl::StatusCode::kDataLoss)) << bad;
  }
}

TEST(ShamirCorruptionTest, CommitmentFindsTheSecretAndNamesOneBadShareAtAnyPosition) {
  const std::vector<uint8_t> secret = RandomBytesOrDie(32);
  const std::vector<uint8_t> context = {'j', 'o', 'b'};
  const Sha256Digest commitment = ShamirCommitment(secret, context);
  constexpr uint32_t kN = 9, kT = 5;
  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, kT, Indices(kN)));
  for (size_t bad = 0; bad < kN; ++bad) {
    std::vector<ShamirShare> copy = Pick(shares, {0, 1, 2, 3, 4, 5, 6, 7, 8});
    Corrupt(copy[bad], bad);
    ASSERT_OK_AND_ASSIGN(CheckedSecret result,
                         ShamirReconstructCommitted(copy, kT, commitment, context));
    EXPECT_EQ(ToVector(result.secret), secret) << "bad share at position " << bad;
    EXPECT_THAT(result.inconsistent_indices, ElementsAre(copy[bad].index));
  }
}

TEST(ShamirCorruptionTest, CommitmentRecoversFromSeveralBadShares) {
  const std::vector<uint8_t> secret = RandomBytesOrDie(32);
  const Sha256Digest commitment = ShamirCommitment(secret, {});
  constexpr uint32_t kN = 12, kT = 6;
  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, kT, Indices(kN)));
  std::vector<size_t> all(kN);
  std::iota(all.begin(), all.end(), 0);
  std::vector<ShamirShare> copy = Pick(shares, all);
  // Three bad shares, including two among the first t.
  Corrupt(copy[0], 1);
  Corrupt(copy[4], 2);
  Corrupt(copy[9], 3);
  ASSERT_OK_AND_ASSIGN(CheckedSecret result, ShamirReconstructCommitted(copy, kT, commitment, {}));
  EXPECT_EQ(ToVector(result.secret), secret);
  EXPECT_THAT(result.inconsistent_indices, ElementsAre(1, 5, 10));
}

TEST(ShamirCorruptionTest, FailsCleanlyWhenTooFewGoodSharesRemain) {
  const std::vector<uint8_t> secret = RandomBytesOrDie(32);
  const Sha256Digest commitment = ShamirCommitment(secret, {});
  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares, ShamirSplit(secret, 4, Indices(6)));
  // Exactly t shares with one bad: nothing to fall back on.
  std::vector<ShamirShare> exact = Pick(shares, {0, 1, 2, 3});
  Corrupt(exact[2], 0);
  EXPECT_THAT(ShamirReconstructCommitted(exact, 4, commitment, {}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no 4 of the 4")));
  // Six shares, three bad: only three good ones, fewer than t.
  std::vector<ShamirShare> many = Pick(shares, {0, 1, 2, 3, 4, 5});
  Corrupt(many[1], 0);
  Corrupt(many[3], 0);
  Corrupt(many[5], 0);
  EXPECT_THAT(ShamirReconstructCommitted(many, 4, commitment, {}),
              StatusIs(absl::StatusCode::kDataLoss));
  // A commitment made for another context never matches.
  EXPECT_THAT(ShamirReconstructCommitted(Pick(shares, {0, 1, 2, 3}), 4, commitment,
                                         std::vector<uint8_t>{1}),
              StatusIs(absl::StatusCode::kDataLoss));
  // The attempt cap is honoured.
  size_t calls = 0;
  EXPECT_THAT(ShamirReconstructChecked(
                  Pick(shares, {0, 1, 2, 3, 4, 5}), 4,
                  [&calls](ByteSpan) {
                    ++calls;
                    return false;
                  },
                  /*max_attempts=*/7),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("7 subsets")));
  EXPECT_EQ(calls, 7u);
}

TEST(ShamirCorruptionTest, TriesEveryTSubsetBeforeGivingUp) {
  // C(6, 4) = 15 subsets exist; a check that never passes sees all of them.
  ASSERT_OK_AND_ASSIGN(std::vector<ShamirShare> shares,
                       ShamirSplit(std::vector<uint8_t>(32, 3), 4, Indices(6)));
  size_t calls = 0;
  EXPECT_THAT(ShamirReconstructChecked(Pick(shares, {0, 1, 2, 3, 4, 5}), 4,
                                       [&calls](ByteSpan) {
                                         ++calls;
                                         return false;
                                       }),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(calls, 15u);
}

}  // namespace
}  // namespace tessera::crypto
