#include "crypto/aes_gcm.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/crypto/test_hex.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto {
namespace {

using ::tessera::testing::StatusIs;
using testing::FromHex;
using testing::ToHex;

struct GcmVector {
  const char* name;
  const char* key;
  const char* nonce;
  const char* plaintext;
  const char* associated_data;
  const char* ciphertext;
  const char* tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B,
// test cases 13-16 (the AES-256 cases with 96-bit IVs).
const GcmVector kVectors[] = {
    {"TestCase13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TestCase14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TestCase15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"TestCase16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

class AesGcmVectorTest : public ::testing::TestWithParam<GcmVector> {};

TEST_P(AesGcmVectorTest, SealsAndOpensThePublishedVector) {
  const GcmVector& v = GetParam();
  ASSERT_OK_AND_ASSIGN(auto aead, AesGcm256::Create(FromHex(v.key)));
  ASSERT_OK_AND_ASSIGN(
      std::vector<uint8_t> sealed,
      aead->Seal(FromHex(v.nonce), FromHex(v.plaintext), FromHex(v.associated_data)));
  EXPECT_EQ(ToHex(sealed), std::string(v.ciphertext) + v.tag);
  ASSERT_OK_AND_ASSIGN(SecretBytes opened,
                       aead->Open(FromHex(v.nonce), sealed, FromHex(v.associated_data)));
  EXPECT_EQ(ToHex(opened.span()), v.plaintext);
}

INSTANTIATE_TEST_SUITE_P(McGrewViega, AesGcmVectorTest, ::testing::ValuesIn(kVectors),
                         [](const ::testing::TestParamInfo<GcmVector>& param_info) {
                           return std::string(param_info.param.name);
                         });

bool AllZero(ByteSpan bytes) {
  for (uint8_t byte : bytes) {
    if (byte != 0) return false;
  }
  return true;
}

// Every single-bit change to the ciphertext, the tag, the associated data or
// the nonce must be rejected, and the output buffer must be left wiped.
TEST(AesGcmTamperTest, EveryFlippedBitIsRejectedAndTheOutputWiped) {
  const GcmVector& v = kVectors[3];  // has plaintext and associated data
  ASSERT_OK_AND_ASSIGN(auto aead, AesGcm256::Create(FromHex(v.key)));
  const std::vector<uint8_t> nonce = FromHex(v.nonce);
  const std::vector<uint8_t> ad = FromHex(v.associated_data);
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> sealed, aead->Seal(nonce, FromHex(v.plaintext), ad));
  std::vector<uint8_t> out(sealed.size() - AesGcm256::kTagSize);

  auto expect_rejected = [&](ByteSpan n, ByteSpan c, ByteSpan a, const std::string& what) {
    std::fill(out.begin(), out.end(), 0xAA);
    EXPECT_THAT(aead->OpenInto(n, c, a, absl::MakeSpan(out)),
                StatusIs(absl::StatusCode::kUnauthenticated))
        << what;
    EXPECT_TRUE(AllZero(out)) << "output not wiped after " << what;
  };
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::vector<uint8_t> tampered = sealed;
    tampered[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    expect_rejected(nonce, tampered, ad,
                    (bit / 8 < out.size() ? "ciphertext bit " : "tag bit ") + std::to_string(bit));
  }
  for (size_t bit = 0; bit < ad.size() * 8; ++bit) {
    std::vector<uint8_t> tampered = ad;
    tampered[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    expect_rejected(nonce, sealed, tampered, "associated-data bit " + std::to_string(bit));
  }
  for (size_t bit = 0; bit < nonce.size() * 8; ++bit) {
    std::vector<uint8_t> tampered = nonce;
    tampered[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    expect_rejected(tampered, sealed, ad, "nonce bit " + std::to_string(bit));
  }
  // Truncated or extended associated data, and a truncated ciphertext.
  expect_rejected(nonce, sealed, ByteSpan(ad.data(), ad.size() - 1), "shortened associated data");
  std::vector<uint8_t> longer_ad = ad;
  longer_ad.push_back(0);
  expect_rejected(nonce, sealed, longer_ad, "extended associated data");
  // The untouched message still opens.
  EXPECT_OK(aead->OpenInto(nonce, sealed, ad, absl::MakeSpan(out)));
  EXPECT_EQ(ToHex(out), v.plaintext);
}

TEST(AesGcmTest, WrongKeyIsRejected) {
  std::vector<uint8_t> key(32, 7), other(32, 7);
  other[31] ^= 1;
  ASSERT_OK_AND_ASSIGN(auto aead, AesGcm256::Create(key));
  ASSERT_OK_AND_ASSIGN(auto wrong, AesGcm256::Create(other));
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> sealed,
                       aead->SealWithRandomNonce(AsBytes("share"), AsBytes("ad")));
  EXPECT_EQ(sealed.size(), AesGcm256::kNonceSize + 5 + AesGcm256::kTagSize);
  EXPECT_THAT(wrong->OpenWithRandomNonce(sealed, AsBytes("ad")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(SecretBytes opened, aead->OpenWithRandomNonce(sealed, AsBytes("ad")));
  EXPECT_EQ(AsStringView(opened.span()), "share");
}

TEST(AesGcmTest, RandomNoncesDiffer) {
  ASSERT_OK_AND_ASSIGN(auto aead, AesGcm256::Create(std::vector<uint8_t>(32, 1)));
  ASSERT_OK_AND_ASSIGN(auto a, aead->SealWithRandomNonce(AsBytes("x"), ByteSpan()));
  ASSERT_OK_AND_ASSIGN(auto b, aead->SealWithRandomNonce(AsBytes("x"), ByteSpan()));
  // Same plaintext, different nonces: different output (false failure 2^-96).
  EXPECT_NE(a, b);
}

TEST(AesGcmTest, RejectsBadLengths) {
  EXPECT_THAT(AesGcm256::Create(std::vector<uint8_t>(16, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto aead, AesGcm256::Create(std::vector<uint8_t>(32, 0)));
  EXPECT_THAT(aead->Seal(std::vector<uint8_t>(8, 0), AsBytes("x"), ByteSpan()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(aead->Open(std::vector<uint8_t>(12, 0), std::vector<uint8_t>(15, 0), ByteSpan()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(aead->OpenWithRandomNonce(std::vector<uint8_t>(27, 0), ByteSpan()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<uint8_t> out(3, 0xAA);
  EXPECT_THAT(aead->OpenInto(std::vector<uint8_t>(12, 0), std::vector<uint8_t>(20, 0), ByteSpan(),
                             absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(AllZero(out));
}

}  // namespace
}  // namespace tessera::crypto
