#include "privacy/limb_codec.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "privacy/distributed_dp.h"
#include "privacy/random.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// The plain int64 sum with two's-complement wrap-around (computed in uint64,
// where overflow is defined): the reference every decoded sum must equal.
int64_t WrappingSum(const std::vector<int64_t>& values) {
  uint64_t total = 0;
  for (int64_t v : values) total += static_cast<uint64_t>(v);
  return static_cast<int64_t>(total);
}

// Encodes every value, adds the words as secure aggregation does (mod 2^b,
// privacy::AddModulo) and decodes the sum.
int64_t SumThroughRing(const LimbCodec& codec, const std::vector<int64_t>& values) {
  const size_t limbs = static_cast<size_t>(codec.limbs());
  std::vector<uint32_t> acc(limbs, 0);
  std::vector<uint32_t> words(limbs);
  for (int64_t v : values) {
    codec.Encode(v, absl::MakeSpan(words));
    for (uint32_t word : words) {
      EXPECT_LT(static_cast<uint64_t>(word), uint64_t{1} << codec.limb_bits());
    }
    AddModulo(absl::MakeSpan(acc), words, codec.ring_bits());
  }
  return codec.Decode(acc);
}

TEST(LimbCodecTest, LimbWidthAndCountFollowTheFormula) {
  // w = b - ceil(log2 n), L = ceil(64 / w), worked by hand.
  struct Case {
    int bits;
    int64_t sites;
    int w;
    int limbs;
  } cases[] = {{32, 1, 32, 2},    {32, 2, 31, 3},  {32, 10, 28, 3},   {32, 1024, 22, 3},
               {32, 1025, 21, 4}, {20, 10, 16, 4}, {16, 65535, 0, 0}, {8, 16, 4, 16}};
  for (const Case& c : cases) {
    absl::StatusOr<LimbCodec> codec = LimbCodec::Create(c.bits, c.sites);
    if (c.limbs == 0) {
      EXPECT_FALSE(codec.ok()) << c.bits << " bits, " << c.sites << " sites";
      continue;
    }
    ASSERT_OK(codec);
    EXPECT_EQ(codec->limb_bits(), c.w) << c.bits << " bits, " << c.sites << " sites";
    EXPECT_EQ(codec->limbs(), c.limbs) << c.bits << " bits, " << c.sites << " sites";
  }
}

TEST(LimbCodecTest, RandomSumsMatchPlainInt64Sums) {
  struct Setting {
    int bits;
    int64_t sites;
  } settings[] = {{32, 3}, {32, 10}, {32, 1000}, {24, 100}, {20, 10}, {12, 200}, {6, 4}};
  Xoshiro256StarStar rng(77);
  for (const Setting& s : settings) {
    ASSERT_OK_AND_ASSIGN(LimbCodec codec, LimbCodec::Create(s.bits, s.sites));
    for (int trial = 0; trial < 50; ++trial) {
      // Alternately small values of both signs (the usual case: counts and
      // loss sums, which a wrong sign extension would break) and full-range
      // values whose sum wraps around int64.
      std::vector<int64_t> values;
      for (int64_t i = 0; i < s.sites; ++i) {
        const uint64_t r = rng.NextUint64();
        values.push_back(trial % 2 == 0 ? static_cast<int64_t>(r % 2'000'001) - 1'000'000
                                        : static_cast<int64_t>(r));
      }
      EXPECT_EQ(SumThroughRing(codec, values), WrappingSum(values))
          << s.bits << " bits, " << s.sites << " sites, trial " << trial;
    }
  }
}

TEST(LimbCodecTest, FewerSummandsThanTheMaximumAlsoSumExactly) {
  ASSERT_OK_AND_ASSIGN(LimbCodec codec, LimbCodec::Create(32, 100));
  const std::vector<int64_t> values = {-5, 17, -1'000'000'000'000, 3};
  EXPECT_EQ(SumThroughRing(codec, values), -999'999'999'985);
  EXPECT_EQ(SumThroughRing(codec, {}), 0);
}

TEST(LimbCodecTest, BoundaryValuesSurvive) {
  // Each boundary value alone, and the maximum number of copies of it (every
  // limb at 2^w - 1 for -1: the worst case for carries within the ring).
  for (int bits : {32, 17, 8}) {
    const int64_t sites = 15;
    ASSERT_OK_AND_ASSIGN(LimbCodec codec, LimbCodec::Create(bits, sites));
    for (int64_t v : {kMin, kMax, int64_t{-1}, int64_t{0}, int64_t{1}, kMin + 1, kMax - 1}) {
      EXPECT_EQ(SumThroughRing(codec, {v}), v) << bits << " bits, value " << v;
      const std::vector<int64_t> copies(static_cast<size_t>(sites), v);
      EXPECT_EQ(SumThroughRing(codec, copies), WrappingSum(copies)) << bits << " bits, " << v;
    }
    EXPECT_EQ(SumThroughRing(codec, {kMax, 1}), kMin);  // wraps as int64 addition does
    EXPECT_EQ(SumThroughRing(codec, {kMin, kMax}), -1);
  }
}

TEST(LimbCodecTest, EncodeSplitsTheTwosComplementBits) {
  // 32-bit ring, 1 summand: w = 32, two limbs = the low and high halves.
  ASSERT_OK_AND_ASSIGN(LimbCodec codec, LimbCodec::Create(32, 1));
  std::vector<uint32_t> words(2);
  codec.Encode(-2, absl::MakeSpan(words));
  EXPECT_EQ(words[0], 0xFFFFFFFEu);
  EXPECT_EQ(words[1], 0xFFFFFFFFu);
  codec.Encode(int64_t{0x123456789}, absl::MakeSpan(words));
  EXPECT_EQ(words[0], 0x23456789u);
  EXPECT_EQ(words[1], 0x1u);
}

TEST(LimbCodecTest, RejectsBadSettingsNamingAWorkingBitWidth) {
  EXPECT_THAT(LimbCodec::Create(1, 3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LimbCodec::Create(33, 3), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LimbCodec::Create(32, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  // 10 sites need ceil(log2 10) = 4 bits of headroom: 8 bits leave w = 4 (the
  // least allowed), 7 bits leave 3 and the fix is 8 bits.
  EXPECT_OK(LimbCodec::Create(8, 10));
  EXPECT_THAT(LimbCodec::Create(7, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 8")));
  // 2^30 summands need 30 bits of headroom: nothing up to 32 bits works.
  EXPECT_THAT(LimbCodec::Create(32, int64_t{1} << 30),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no bit width")));
}

}  // namespace
}  // namespace tessera::privacy
