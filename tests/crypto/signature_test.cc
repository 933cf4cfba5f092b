#include "crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <string>
#include <vector>

#include "crypto/certificate.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_hex.h"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto {
namespace {

using ::tessera::testing::StatusIs;
using testing::FromHex;
using ::testing::HasSubstr;
using testing::TestIdentity;
using testing::TestKeyType;
using testing::TestPki;
using testing::ToHex;

std::string ToPem(EVP_PKEY* key, bool private_key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (private_key) {
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio.get(), key);
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

struct Ed25519Vector {
  const char* name;
  const char* secret_key;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1, Ed25519 TEST 1, TEST 2 and TEST 3.
const Ed25519Vector kEd25519Vectors[] = {
    {"Test1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"Test2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"Test3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

class Ed25519VectorTest : public ::testing::TestWithParam<Ed25519Vector> {};

TEST_P(Ed25519VectorTest, SignsAndVerifiesThePublishedVector) {
  const Ed25519Vector& v = GetParam();
  const std::vector<uint8_t> secret = FromHex(v.secret_key);
  EvpPkeyPtr key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret.data(), secret.size()));
  ASSERT_NE(key, nullptr);
  // The key pair as the PKI would hand it over: PEM text.
  ASSERT_OK_AND_ASSIGN(auto signer, PrivateKeySigner::FromPem(ToPem(key.get(), true)));
  EXPECT_EQ(signer->algorithm(), SignatureAlgorithm::kEd25519);
  const std::vector<uint8_t> message = FromHex(v.message);
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature, signer->Sign(message));
  EXPECT_EQ(ToHex(signature), v.signature);

  const std::vector<uint8_t> public_raw = FromHex(v.public_key);
  EvpPkeyPtr public_key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_raw.data(), public_raw.size()));
  ASSERT_NE(public_key, nullptr);
  ASSERT_OK_AND_ASSIGN(auto verifier,
                       SignatureVerifier::FromPublicKeyPem(ToPem(public_key.get(), false)));
  EXPECT_OK(verifier->Verify(message, FromHex(v.signature)));
  std::vector<uint8_t> other_message = message;
  other_message.push_back(0);
  EXPECT_THAT(verifier->Verify(other_message, FromHex(v.signature)),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

INSTANTIATE_TEST_SUITE_P(Rfc8032, Ed25519VectorTest, ::testing::ValuesIn(kEd25519Vectors),
                         [](const ::testing::TestParamInfo<Ed25519Vector>& param_info) {
                           return std::string(param_info.param.name);
                         });

class SignatureRoundTripTest : public ::testing::TestWithParam<TestKeyType> {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, TestPki::Create("Test CA", GetParam()));
    ASSERT_OK_AND_ASSIGN(site_, pki_->Issue("rfh", "site", GetParam()));
    ASSERT_OK_AND_ASSIGN(other_, pki_->Issue("nuth", "site", GetParam()));
  }
  std::unique_ptr<TestPki> pki_;
  TestIdentity site_;
  TestIdentity other_;
};

TEST_P(SignatureRoundTripTest, VerifiesWithThePublicKeyAndTheCertificate) {
  ASSERT_OK_AND_ASSIGN(auto signer, PrivateKeySigner::FromPem(site_.private_key_pem));
  const std::string message = "tessera secure aggregation keys";
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature, signer->Sign(AsBytes(message)));
  ASSERT_OK_AND_ASSIGN(auto by_key, SignatureVerifier::FromPublicKeyPem(site_.public_key_pem));
  EXPECT_OK(by_key->Verify(AsBytes(message), signature));
  ASSERT_OK_AND_ASSIGN(auto certificate, Certificate::FromPem(site_.certificate_pem));
  ASSERT_OK_AND_ASSIGN(auto by_certificate, certificate->PublicKeyVerifier());
  EXPECT_OK(by_certificate->Verify(AsBytes(message), signature));
}

TEST_P(SignatureRoundTripTest, RejectsAnotherSitesKeyAndCertificate) {
  ASSERT_OK_AND_ASSIGN(auto signer, PrivateKeySigner::FromPem(site_.private_key_pem));
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature, signer->Sign(AsBytes("m")));
  ASSERT_OK_AND_ASSIGN(auto wrong_key, SignatureVerifier::FromPublicKeyPem(other_.public_key_pem));
  EXPECT_THAT(wrong_key->Verify(AsBytes("m"), signature),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(auto wrong_certificate, Certificate::FromPem(other_.certificate_pem));
  ASSERT_OK_AND_ASSIGN(auto wrong_verifier, wrong_certificate->PublicKeyVerifier());
  EXPECT_THAT(wrong_verifier->Verify(AsBytes("m"), signature),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_P(SignatureRoundTripTest, RejectsEveryFlippedMessageBitAndSignatureBit) {
  ASSERT_OK_AND_ASSIGN(auto signer, PrivateKeySigner::FromPem(site_.private_key_pem));
  ASSERT_OK_AND_ASSIGN(auto verifier, SignatureVerifier::FromPublicKeyPem(site_.public_key_pem));
  const std::vector<uint8_t> message = FromHex("00112233445566778899aabbccddeeff");
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> signature, signer->Sign(message));
  for (size_t bit = 0; bit < message.size() * 8; ++bit) {
    std::vector<uint8_t> flipped = message;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_THAT(verifier->Verify(flipped, signature), StatusIs(absl::StatusCode::kUnauthenticated))
        << "message bit " << bit;
  }
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    std::vector<uint8_t> flipped = signature;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_THAT(verifier->Verify(message, flipped), StatusIs(absl::StatusCode::kUnauthenticated))
        << "signature bit " << bit;
  }
  EXPECT_THAT(verifier->Verify(message, ByteSpan()), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_OK(verifier->Verify(message, signature));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, SignatureRoundTripTest,
                         ::testing::Values(TestKeyType::kEcdsaP256, TestKeyType::kEd25519),
                         [](const ::testing::TestParamInfo<TestKeyType>& param_info) {
                           return param_info.param == TestKeyType::kEcdsaP256 ? "EcdsaP256"
                                                                              : "Ed25519";
                         });

TEST(PrivateKeySignerTest, RejectsUnsupportedAndMalformedKeys) {
  EvpPkeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  ASSERT_NE(p384, nullptr);
  EXPECT_THAT(PrivateKeySigner::FromPem(ToPem(p384.get(), true)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("secp384r1")));
  EXPECT_THAT(SignatureVerifier::FromPublicKeyPem(ToPem(p384.get(), false)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EvpPkeyPtr rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  ASSERT_NE(rsa, nullptr);
  EXPECT_THAT(PrivateKeySigner::FromPem(ToPem(rsa.get(), true)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA")));
  EXPECT_THAT(PrivateKeySigner::FromPem("not a key"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SignatureVerifier::FromPublicKeyPem(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::crypto
