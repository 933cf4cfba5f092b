#include "crypto/certificate.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;
using testing::TestIdentity;
using testing::TestKeyType;
using testing::TestNotAfter;
using testing::TestNotBefore;
using testing::TestNow;
using testing::TestPki;

class CertificateTest : public ::testing::TestWithParam<TestKeyType> {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, TestPki::Create("Federation CA", GetParam()));
    ASSERT_OK_AND_ASSIGN(ca_, Certificate::FromPem(pki_->ca().certificate_pem));
    ASSERT_OK_AND_ASSIGN(site_, pki_->Issue("rfh", "site", GetParam()));
  }
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<Certificate> ca_;
  TestIdentity site_;
};

TEST_P(CertificateTest, VerifiesALeafIssuedByTheCaAndReadsItsSubject) {
  ASSERT_OK_AND_ASSIGN(auto leaf, Certificate::FromPem(site_.certificate_pem));
  EXPECT_OK(leaf->VerifyIssuedBy(*ca_, TestNow()));
  EXPECT_THAT(leaf->SubjectCommonName(), IsOkAndHolds(std::string("rfh")));
  EXPECT_THAT(leaf->SubjectOrganizationalUnit(), IsOkAndHolds(std::string("site")));
  EXPECT_EQ(leaf->DescribeSubject(), "CN=rfh, OU=site");
  EXPECT_EQ(leaf->not_before(), TestNotBefore());
  EXPECT_EQ(leaf->not_after(), TestNotAfter());
}

TEST_P(CertificateTest, ChecksValidityAtTheGivenTime) {
  ASSERT_OK_AND_ASSIGN(auto leaf, Certificate::FromPem(site_.certificate_pem));
  EXPECT_THAT(leaf->VerifyIssuedBy(*ca_, TestNotAfter() + absl::Hours(1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
  EXPECT_THAT(leaf->VerifyIssuedBy(*ca_, TestNotBefore() - absl::Hours(1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not yet valid")));
  // A leaf that expired on its own while the CA is still valid.
  ASSERT_OK_AND_ASSIGN(
      TestIdentity short_lived,
      pki_->Issue("short", "site", GetParam(), TestNotBefore(), TestNow() - absl::Hours(24)));
  ASSERT_OK_AND_ASSIGN(auto expired, Certificate::FromPem(short_lived.certificate_pem));
  EXPECT_THAT(expired->VerifyIssuedBy(*ca_, TestNow()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("CN=short, OU=site")));
}

TEST_P(CertificateTest, RejectsALeafFromAnotherCa) {
  ASSERT_OK_AND_ASSIGN(auto rogue_pki, TestPki::Create("Federation CA", GetParam()));
  ASSERT_OK_AND_ASSIGN(TestIdentity rogue, rogue_pki->Issue("rfh", "site", GetParam()));
  ASSERT_OK_AND_ASSIGN(auto leaf, Certificate::FromPem(rogue.certificate_pem));
  EXPECT_THAT(leaf->VerifyIssuedBy(*ca_, TestNow()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("does not verify")));
}

TEST_P(CertificateTest, RejectsSwappedRoles) {
  ASSERT_OK_AND_ASSIGN(auto leaf, Certificate::FromPem(site_.certificate_pem));
  // The CA certificate is not accepted as a leaf, nor a leaf as the CA.
  EXPECT_THAT(ca_->VerifyIssuedBy(*ca_, TestNow()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("is a CA certificate")));
  EXPECT_THAT(leaf->VerifyIssuedBy(*leaf, TestNow()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("is not a CA")));
}

TEST_P(CertificateTest, DerRoundTrip) {
  ASSERT_OK_AND_ASSIGN(auto leaf, Certificate::FromPem(site_.certificate_pem));
  const std::vector<uint8_t> der = leaf->Der();
  ASSERT_OK_AND_ASSIGN(auto again, Certificate::FromDer(der));
  EXPECT_EQ(again->Der(), der);
  EXPECT_OK(again->VerifyIssuedBy(*ca_, TestNow()));
  std::vector<uint8_t> trailing = der;
  trailing.push_back(0);
  EXPECT_THAT(Certificate::FromDer(trailing),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")));
  EXPECT_THAT(Certificate::FromDer(ByteSpan(der.data(), der.size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Certificate::FromDer(ByteSpan()), StatusIs(absl::StatusCode::kInvalidArgument));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CertificateTest,
                         ::testing::Values(TestKeyType::kEcdsaP256, TestKeyType::kEd25519),
                         [](const ::testing::TestParamInfo<TestKeyType>& param_info) {
                           return param_info.param == TestKeyType::kEcdsaP256 ? "EcdsaP256"
                                                                              : "Ed25519";
                         });

TEST(CertificateParseTest, RejectsTextWithoutACertificate) {
  EXPECT_THAT(
      Certificate::FromPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Certificate::FromPem(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CertificateParseTest, MissingSubjectFieldsAreNotFound) {
  ASSERT_OK_AND_ASSIGN(auto pki, TestPki::Create("Federation CA", TestKeyType::kEcdsaP256));
  ASSERT_OK_AND_ASSIGN(auto ca, Certificate::FromPem(pki->ca().certificate_pem));
  // The test CA has a CN but no OU.
  EXPECT_THAT(ca->SubjectOrganizationalUnit(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ca->SubjectCommonName(), IsOkAndHolds(std::string("Federation CA")));
}

}  // namespace
}  // namespace tessera::crypto
