#include "crypto/random.h"

#include <bitset>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto {
namespace {

TEST(RandomBytesTest, TwoDrawsDiffer) {
  // False-failure rate: 2^-256 (two independent uniform 32-byte strings).
  std::vector<uint8_t> a(32), b(32);
  ASSERT_OK(RandomBytes(absl::MakeSpan(a)));
  ASSERT_OK(RandomBytes(absl::MakeSpan(b)));
  EXPECT_NE(a, b);
}

TEST(RandomBytesTest, BitsAreBalanced) {
  // 2^23 bits; the count of ones is Binomial(n, 1/2) with standard deviation
  // sqrt(n)/2 = 1448. We allow 6 standard deviations: false-failure rate
  // about 2e-9. A generator stuck at zero, or one that fills only part of the
  // buffer, fails by millions.
  std::vector<uint8_t> bytes(1 << 20);
  ASSERT_OK(RandomBytes(absl::MakeSpan(bytes)));
  int64_t ones = 0;
  for (uint8_t byte : bytes) ones += static_cast<int64_t>(std::bitset<8>(byte).count());
  const double n = 8.0 * static_cast<double>(bytes.size());
  EXPECT_LT(std::abs(static_cast<double>(ones) - n / 2), 6 * std::sqrt(n) / 2);
  // The last bytes are filled too (not left at their initial zero).
  int64_t tail_ones = 0;
  for (size_t i = bytes.size() - 64; i < bytes.size(); ++i) tail_ones += bytes[i] != 0;
  EXPECT_GT(tail_ones, 0);  // false-failure rate 2^-512
}

TEST(RandomSecretTest, HasTheRequestedSize) {
  ASSERT_OK_AND_ASSIGN(SecretBytes secret, RandomSecret(48));
  EXPECT_EQ(secret.size(), 48u);
  ASSERT_OK_AND_ASSIGN(SecretBytes other, RandomSecret(48));
  EXPECT_FALSE(ConstantTimeEquals(secret.span(), other.span()));  // false failure 2^-384
}

}  // namespace
}  // namespace tessera::crypto
