#include "crypto/sha256.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/crypto/test_hex.h"

namespace tessera::crypto {
namespace {

using testing::ToHex;

// FIPS 180-4 examples (NIST "Cryptographic Standards and Guidelines: Examples
// with Intermediate Values", SHA256.pdf): one-block message "abc".
TEST(Sha256Test, Fips180OneBlockMessage) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Same source: the two-block 448-bit message.
TEST(Sha256Test, Fips180TwoBlockMessage) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  const std::string message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha256Hasher hasher;
  hasher.Update(AsBytes(message.substr(0, 5))).Update(AsBytes(message.substr(5)));
  EXPECT_EQ(hasher.Finish(), Sha256(AsBytes(message)));
}

TEST(Sha256Test, LengthPrefixingSeparatesFields) {
  // ("ab", "c") and ("a", "bc") must hash differently when length-prefixed.
  Sha256Hasher first, second;
  first.UpdateLengthPrefixed(AsBytes("ab")).UpdateLengthPrefixed(AsBytes("c"));
  second.UpdateLengthPrefixed(AsBytes("a")).UpdateLengthPrefixed(AsBytes("bc"));
  EXPECT_NE(first.Finish(), second.Finish());
  // UpdateU32 is big-endian: equal to hashing the 4 bytes.
  Sha256Hasher third;
  third.UpdateU32(0x61626364);
  EXPECT_EQ(third.Finish(), Sha256(AsBytes("abcd")));
}

}  // namespace
}  // namespace tessera::crypto
