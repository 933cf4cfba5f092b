#include "crypto/x25519.h"

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

std::string ScalarMult(absl::string_view scalar_hex, ByteSpan u) {
  absl::StatusOr<X25519PrivateKey> key = X25519PrivateKey::FromBytes(FromHex(scalar_hex));
  EXPECT_TRUE(key.ok()) << key.status();
  absl::StatusOr<SecretBytes> out = key->Agree(u);
  EXPECT_TRUE(out.ok()) << out.status();
  return ToHex(out->span());
}

// RFC 7748 §5.2, first test vector.
TEST(X25519Test, Rfc7748Section5_2Vector1) {
  EXPECT_EQ(ScalarMult("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                       FromHex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

// RFC 7748 §5.2, second test vector (its u-coordinate has the top bit set,
// which X25519 must ignore).
TEST(X25519Test, Rfc7748Section5_2Vector2) {
  EXPECT_EQ(ScalarMult("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                       FromHex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")),
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

// RFC 7748 §5.2, the iterated test: k = u = 9; k, u = X25519(k, u), k.
// Expected values after 1 and 1,000 iterations from the RFC.
TEST(X25519Test, Rfc7748Section5_2Iterated) {
  std::vector<uint8_t> k(32, 0), u(32, 0);
  k[0] = 9;
  u[0] = 9;
  for (int i = 1; i <= 1000; ++i) {
    const std::string next = ScalarMult(ToHex(k), u);
    u = k;
    k = FromHex(next);
    if (i == 1) {
      EXPECT_EQ(ToHex(k), "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  EXPECT_EQ(ToHex(k), "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

// RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
TEST(X25519Test, Rfc7748Section6_1DiffieHellman) {
  ASSERT_OK_AND_ASSIGN(X25519PrivateKey alice,
                       X25519PrivateKey::FromBytes(FromHex(
                           "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")));
  ASSERT_OK_AND_ASSIGN(X25519PrivateKey bob,
                       X25519PrivateKey::FromBytes(FromHex(
                           "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")));
  EXPECT_EQ(ToHex(alice.public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(ToHex(bob.public_key()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const std::string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  ASSERT_OK_AND_ASSIGN(SecretBytes alice_shared, alice.Agree(bob.public_key()));
  ASSERT_OK_AND_ASSIGN(SecretBytes bob_shared, bob.Agree(alice.public_key()));
  EXPECT_EQ(ToHex(alice_shared.span()), shared);
  EXPECT_EQ(ToHex(bob_shared.span()), shared);
}

TEST(X25519Test, GeneratedKeysAgree) {
  ASSERT_OK_AND_ASSIGN(X25519PrivateKey a, X25519PrivateKey::Generate());
  ASSERT_OK_AND_ASSIGN(X25519PrivateKey b, X25519PrivateKey::Generate());
  EXPECT_NE(a.public_key(), b.public_key());
  ASSERT_OK_AND_ASSIGN(SecretBytes ab, a.Agree(b.public_key()));
  ASSERT_OK_AND_ASSIGN(SecretBytes ba, b.Agree(a.public_key()));
  EXPECT_TRUE(ConstantTimeEquals(ab.span(), ba.span()));
  // Reloading the private bytes gives the same public key (what secure
  // aggregation relies on to check a reconstructed key).
  ASSERT_OK_AND_ASSIGN(X25519PrivateKey reloaded,
                       X25519PrivateKey::FromBytes(a.private_bytes().span()));
  EXPECT_EQ(reloaded.public_key(), a.public_key());
}

TEST(X25519Test, RejectsLowOrderPointsAndWrongLengths) {
  ASSERT_OK_AND_ASSIGN(X25519PrivateKey key, X25519PrivateKey::Generate());
  // u = 0 and u = 1 are points of small order: the result is all zeros,
  // which RFC 7748 §6.1 says to reject.
  std::vector<uint8_t> zero(32, 0), one(32, 0);
  one[0] = 1;
  EXPECT_THAT(key.Agree(zero), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.Agree(one), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(key.Agree(std::vector<uint8_t>(31, 9)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(X25519PrivateKey::FromBytes(std::vector<uint8_t>(33, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::crypto
