#include "crypto/secagg/wire.h"

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto::secagg {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<uint8_t> Pack(const std::vector<uint32_t>& values, uint32_t bit_width) {
  std::vector<uint8_t> packed(PackedSize(values.size(), bit_width));
  PackBits(values, bit_width, absl::MakeSpan(packed));
  return packed;
}

// The layout by hand: value i in bits [i*b, (i+1)*b), least significant
// first.
TEST(PackBitsTest, LaysValuesOutLeastSignificantBitFirst) {
  EXPECT_THAT(Pack({0x1, 0x2, 0x3}, 4), ElementsAre(0x21, 0x03));
  EXPECT_THAT(Pack({0xABC, 0x123}, 12), ElementsAre(0xBC, 0x3A, 0x12));
  EXPECT_THAT(Pack({1, 0, 1, 1, 0, 0, 0, 0, 1}, 1), ElementsAre(0x0D, 0x01));
  EXPECT_THAT(Pack({0x11223344}, 32), ElementsAre(0x44, 0x33, 0x22, 0x11));
  // High bits beyond the width are dropped.
  EXPECT_THAT(Pack({0xFF}, 3), ElementsAre(0x07));
}

TEST(PackBitsTest, RoundTripsEveryWidthAndLength) {
  std::mt19937 rng(5);
  for (uint32_t b = 1; b <= 32; ++b) {
    for (size_t count : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{8}, size_t{9},
                         size_t{63}, size_t{64}, size_t{65}, size_t{1001}}) {
      std::vector<uint32_t> values(count);
      for (uint32_t& value : values) value = static_cast<uint32_t>(rng());
      const std::vector<uint8_t> packed = Pack(values, b);
      ASSERT_EQ(packed.size(), (count * b + 7) / 8);
      ASSERT_OK(CheckPacked(packed, count, b));
      // AddPackedBits adds onto what is there.
      std::vector<uint32_t> sum(count, 5);
      AddPackedBits(packed, b, absl::MakeSpan(sum));
      const uint32_t mask = b == 32 ? 0xFFFFFFFFu : (1u << b) - 1;
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(sum[i], 5 + (values[i] & mask)) << "b=" << b << " count=" << count << " i=" << i;
      }
    }
  }
}

TEST(PackBitsTest, CheckPackedRejectsWrongSizesAndPadding) {
  std::vector<uint8_t> packed = Pack({1, 2, 3}, 5);  // 15 bits in 2 bytes
  EXPECT_OK(CheckPacked(packed, 3, 5));
  EXPECT_THAT(CheckPacked(packed, 4, 5), StatusIs(absl::StatusCode::kInvalidArgument));
  packed.push_back(0);
  EXPECT_THAT(CheckPacked(packed, 3, 5), StatusIs(absl::StatusCode::kInvalidArgument));
  packed.pop_back();
  packed[1] |= 0x80;  // the one padding bit
  EXPECT_THAT(CheckPacked(packed, 3, 5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("padding")));
}

TEST(WireReaderTest, ReportsTruncationBoundsAndTrailingBytes) {
  WireWriter writer;
  writer.U16(7);
  writer.U32(0xDEADBEEF);
  writer.Blob16(std::vector<uint8_t>{1, 2, 3});
  const std::vector<uint8_t> bytes = std::move(writer).Finish();
  {
    WireReader reader(bytes, "Sample");
    EXPECT_THAT(reader.U16("a"), ::tessera::testing::IsOkAndHolds(7));
    EXPECT_THAT(reader.U32("b"), ::tessera::testing::IsOkAndHolds(0xDEADBEEFu));
    EXPECT_THAT(reader.Blob16(2, "c"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Sample: `c` is 3 bytes")));
  }
  {
    WireReader reader(bytes, "Sample");
    EXPECT_THAT(reader.Raw(100, "x"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated in `x`")));
  }
  {
    WireReader reader(bytes, "Sample");
    ASSERT_OK(reader.U16("a").status());
    EXPECT_THAT(reader.ExpectEnd(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")));
  }
  {
    // A count bigger than the remaining bytes could hold is refused before
    // anything is allocated.
    WireWriter counts;
    counts.U32(1000000);
    const std::vector<uint8_t> claim = std::move(counts).Finish();
    WireReader reader(claim, "Sample");
    EXPECT_THAT(reader.Count(65535, 4, "entries"), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

}  // namespace
}  // namespace tessera::crypto::secagg
