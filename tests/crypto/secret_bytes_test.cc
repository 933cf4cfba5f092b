#include "crypto/secret_bytes.h"

#include <cstdint>
#include <ostream>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::crypto {
namespace {

// SecretBytes must not be printable: this trait is true only for types with
// an operator<< into std::ostream.
template <typename T, typename = void>
struct IsStreamable : std::false_type {};
template <typename T>
struct IsStreamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<T>())>>
    : std::true_type {};
static_assert(!IsStreamable<const SecretBytes&>::value, "secrets must never be printable");
static_assert(!std::is_copy_constructible_v<SecretBytes>, "secrets must not be copied by accident");
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

// Records every buffer SecretBytes releases and whether it was all zeros.
struct Release {
  size_t capacity;
  bool all_zero;
};
std::vector<Release>* g_releases = nullptr;

void RecordRelease(const uint8_t* data, size_t capacity) {
  bool all_zero = true;
  for (size_t i = 0; i < capacity; ++i) all_zero = all_zero && data[i] == 0;
  g_releases->push_back({capacity, all_zero});
}

class SecretBytesWipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_releases = &releases_;
    internal::SetSecretReleaseObserverForTesting(&RecordRelease);
  }
  void TearDown() override {
    internal::SetSecretReleaseObserverForTesting(nullptr);
    g_releases = nullptr;
  }
  std::vector<Release> releases_;
};

std::vector<uint8_t> Pattern(size_t size) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(0xA5 ^ i);
  return bytes;
}

TEST_F(SecretBytesWipeTest, WipesOnDestruction) {
  {
    SecretBytes secret = SecretBytes::CopyFrom(Pattern(64));
    ASSERT_EQ(secret.size(), 64u);
  }
  ASSERT_EQ(releases_.size(), 1u);
  EXPECT_GE(releases_[0].capacity, 64u);
  EXPECT_TRUE(releases_[0].all_zero);
}

TEST_F(SecretBytesWipeTest, WipesTheOldBufferWhenItGrows) {
  SecretBytes secret = SecretBytes::CopyFrom(Pattern(16));
  const std::vector<uint8_t> more = Pattern(100);
  secret.Append(more);  // beyond the capacity: moves to a new buffer
  ASSERT_EQ(releases_.size(), 1u) << "growing must release (and wipe) the old buffer";
  EXPECT_EQ(releases_[0].capacity, 16u);
  EXPECT_TRUE(releases_[0].all_zero);
  // The contents survived the move.
  ASSERT_EQ(secret.size(), 116u);
  EXPECT_EQ(std::vector<uint8_t>(secret.data(), secret.data() + 16), Pattern(16));
  EXPECT_EQ(std::vector<uint8_t>(secret.data() + 16, secret.data() + 116), more);
}

TEST_F(SecretBytesWipeTest, WipesOnClearAndOnMoveAssignmentOverIt) {
  SecretBytes a = SecretBytes::CopyFrom(Pattern(32));
  SecretBytes b = SecretBytes::CopyFrom(Pattern(48));
  a = std::move(b);  // a's old buffer is released
  ASSERT_EQ(releases_.size(), 1u);
  EXPECT_EQ(releases_[0].capacity, 32u);
  EXPECT_TRUE(releases_[0].all_zero);
  EXPECT_EQ(a.size(), 48u);
  a.Clear();
  ASSERT_EQ(releases_.size(), 2u);
  EXPECT_TRUE(releases_[1].all_zero);
  EXPECT_TRUE(a.empty());
}

TEST(SecretBytesTest, ShrinkingWipesTheCutOffTail) {
  SecretBytes secret = SecretBytes::CopyFrom(Pattern(32));
  const uint8_t* buffer = secret.data();
  secret.Resize(8);
  // Same buffer (no reallocation); its bytes 8..31 were wiped.
  ASSERT_EQ(secret.data(), buffer);
  for (size_t i = 8; i < 32; ++i) EXPECT_EQ(buffer[i], 0) << "byte " << i;
  // Growing back within the capacity shows zeros, not the old secret.
  secret.Resize(32);
  for (size_t i = 8; i < 32; ++i) EXPECT_EQ(secret.data()[i], 0) << "byte " << i;
  EXPECT_EQ(std::vector<uint8_t>(secret.data(), secret.data() + 8),
            std::vector<uint8_t>(Pattern(8)));
}

TEST(SecretBytesTest, MoveLeavesTheSourceEmpty) {
  SecretBytes a = SecretBytes::CopyFrom(Pattern(20));
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.size(), 20u);
  SecretBytes c = b.Clone();
  EXPECT_NE(c.data(), b.data());
  EXPECT_TRUE(ConstantTimeEquals(c.span(), b.span()));
}

TEST(SecretBytesTest, NewSecretsAreZero) {
  SecretBytes secret(40);
  ASSERT_EQ(secret.size(), 40u);
  for (size_t i = 0; i < secret.size(); ++i) EXPECT_EQ(secret.data()[i], 0);
}

TEST(ConstantTimeEqualsTest, ComparesLengthAndEveryByte) {
  const std::vector<uint8_t> a = Pattern(33);
  EXPECT_TRUE(ConstantTimeEquals(a, a));
  EXPECT_TRUE(ConstantTimeEquals(ByteSpan(), ByteSpan()));
  EXPECT_FALSE(ConstantTimeEquals(a, ByteSpan(a.data(), 32)));
  for (size_t i = 0; i < a.size(); ++i) {
    std::vector<uint8_t> b = a;
    b[i] ^= 0x01;
    EXPECT_FALSE(ConstantTimeEquals(a, b)) << "difference at byte " << i;
  }
}

}  // namespace
}  // namespace tessera::crypto
