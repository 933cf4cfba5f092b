#include "crypto/aes_ctr_prg.h"

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

// NIST SP 800-38A Appendix F.5.5, CTR-AES256.Encrypt: the keystream XORed
// with the four plaintext blocks gives the published ciphertext.
TEST(AesCtrPrgTest, NistSp800_38aF55) {
  const std::vector<uint8_t> key =
      FromHex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  ASSERT_OK_AND_ASSIGN(auto prg,
                       AesCtrPrg::Create(key, FromHex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")));
  const std::vector<uint8_t> plaintext = FromHex(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  std::vector<uint8_t> keystream(plaintext.size());
  prg->FillBytes(absl::MakeSpan(keystream));
  // The published output blocks are the keystream itself.
  EXPECT_EQ(ToHex(keystream),
            "0bdf7df1591716335e9a8b15c860c5025a6e699d536119065433863c8f657b94"
            "1bc12c9c01610d5d0d8bd6a3378eca622956e1c8693536b1bee99c73a31576b6");
  std::vector<uint8_t> ciphertext(plaintext.size());
  for (size_t i = 0; i < plaintext.size(); ++i) ciphertext[i] = plaintext[i] ^ keystream[i];
  EXPECT_EQ(ToHex(ciphertext),
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
            "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6");
}

TEST(AesCtrPrgTest, WordsAreTheLittleEndianKeystream) {
  const std::vector<uint8_t> key(32, 0x42);
  ASSERT_OK_AND_ASSIGN(auto bytes_prg, AesCtrPrg::Create(key));
  ASSERT_OK_AND_ASSIGN(auto words_prg, AesCtrPrg::Create(key));
  std::vector<uint8_t> bytes(64);
  bytes_prg->FillBytes(absl::MakeSpan(bytes));
  std::vector<uint32_t> words(16);
  words_prg->Fill(absl::MakeSpan(words));
  for (size_t i = 0; i < words.size(); ++i) {
    const uint32_t expected = static_cast<uint32_t>(bytes[4 * i]) |
                              static_cast<uint32_t>(bytes[4 * i + 1]) << 8 |
                              static_cast<uint32_t>(bytes[4 * i + 2]) << 16 |
                              static_cast<uint32_t>(bytes[4 * i + 3]) << 24;
    EXPECT_EQ(words[i], expected) << "word " << i;
  }
}

TEST(AesCtrPrgTest, StreamDoesNotDependOnHowItIsCut) {
  // One call of 50,000 words equals many calls of odd sizes that straddle the
  // generator's internal 16 KiB blocks.
  const std::vector<uint8_t> key(32, 0x17);
  ASSERT_OK_AND_ASSIGN(auto whole_prg, AesCtrPrg::Create(key));
  std::vector<uint32_t> whole(50000);
  whole_prg->Fill(absl::MakeSpan(whole));
  ASSERT_OK_AND_ASSIGN(auto pieces_prg, AesCtrPrg::Create(key));
  std::vector<uint32_t> pieces(whole.size());
  size_t offset = 0;
  for (size_t step = 1; offset < pieces.size(); step = step * 3 + 1) {
    const size_t count = std::min(step, pieces.size() - offset);
    pieces_prg->Fill(absl::MakeSpan(pieces.data() + offset, count));
    offset += count;
  }
  EXPECT_EQ(whole, pieces);
}

TEST(AesCtrPrgTest, AddThenSubtractRestoresTheVector) {
  const std::vector<uint8_t> key(32, 0x99);
  std::vector<uint32_t> values(10007);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint32_t>(i * 2654435761u);
  std::vector<uint32_t> masked = values;
  ASSERT_OK_AND_ASSIGN(auto add, AesCtrPrg::Create(key));
  add->AddTo(absl::MakeSpan(masked));
  ASSERT_OK_AND_ASSIGN(auto fill, AesCtrPrg::Create(key));
  std::vector<uint32_t> mask(values.size());
  fill->Fill(absl::MakeSpan(mask));
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(masked[i], static_cast<uint32_t>(values[i] + mask[i])) << "word " << i;
  }
  ASSERT_OK_AND_ASSIGN(auto subtract, AesCtrPrg::Create(key));
  subtract->SubtractFrom(absl::MakeSpan(masked));
  EXPECT_EQ(masked, values);
}

TEST(AesCtrPrgTest, DifferentKeysGiveDifferentStreams) {
  std::vector<uint8_t> key(32, 1);
  ASSERT_OK_AND_ASSIGN(auto a, AesCtrPrg::Create(key));
  key[0] ^= 1;
  ASSERT_OK_AND_ASSIGN(auto b, AesCtrPrg::Create(key));
  std::vector<uint32_t> wa(8), wb(8);
  a->Fill(absl::MakeSpan(wa));
  b->Fill(absl::MakeSpan(wb));
  EXPECT_NE(wa, wb);  // false failure 2^-256
}

TEST(AesCtrPrgTest, RequiresAFull256BitKey) {
  EXPECT_THAT(AesCtrPrg::Create(std::vector<uint8_t>(16, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AesCtrPrg::Create(std::vector<uint8_t>(4, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AesCtrPrg::Create(std::vector<uint8_t>(32, 0), std::vector<uint8_t>(12, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::crypto
