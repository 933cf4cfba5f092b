#include "crypto/hkdf.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/crypto/test_hex.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto {
namespace {

using ::tessera::testing::StatusIs;
using testing::FromHex;
using testing::ToHex;

std::vector<uint8_t> Range(int first, int count) {
  std::vector<uint8_t> bytes(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(first + i);
  return bytes;
}

// RFC 5869 Appendix A.1 (Test Case 1): basic test case with SHA-256.
TEST(HkdfSha256Test, Rfc5869TestCase1) {
  const std::vector<uint8_t> ikm(22, 0x0b);
  ASSERT_OK_AND_ASSIGN(SecretBytes okm, HkdfSha256(ikm, FromHex("000102030405060708090a0b0c"),
                                                   FromHex("f0f1f2f3f4f5f6f7f8f9"), 42));
  EXPECT_EQ(ToHex(okm.span()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

// RFC 5869 Appendix A.2 (Test Case 2): longer inputs and outputs.
TEST(HkdfSha256Test, Rfc5869TestCase2) {
  ASSERT_OK_AND_ASSIGN(SecretBytes okm,
                       HkdfSha256(Range(0x00, 80), Range(0x60, 80), Range(0xb0, 80), 82));
  EXPECT_EQ(ToHex(okm.span()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

// RFC 5869 Appendix A.3 (Test Case 3): zero-length salt and info.
TEST(HkdfSha256Test, Rfc5869TestCase3) {
  const std::vector<uint8_t> ikm(22, 0x0b);
  ASSERT_OK_AND_ASSIGN(SecretBytes okm, HkdfSha256(ikm, ByteSpan(), ByteSpan(), 42));
  EXPECT_EQ(ToHex(okm.span()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfSha256Test, RejectsLengthsOutsideTheRfcLimit) {
  const std::vector<uint8_t> ikm(32, 1);
  EXPECT_THAT(HkdfSha256(ikm, ByteSpan(), ByteSpan(), 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(HkdfSha256(ikm, ByteSpan(), ByteSpan(), 255 * 32 + 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_OK(HkdfSha256(ikm, ByteSpan(), ByteSpan(), 255 * 32).status());
}

}  // namespace
}  // namespace tessera::crypto
