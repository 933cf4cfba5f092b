// Signed round receipts: signing, the coordinator's filing checks and the
// report's verification against the CA. There are no published vectors for
// this format, so the tests are round trips, the documented signed message
// checked with the plain signature verifier, and tamper loops: every
// flipped byte of the receipt and of the signature is rejected, as are a
// receipt signed with another site's key, a certificate from another CA or
// with another role, and a receipt moved to another job, round, attempt or
// site.
#include "governance/receipt.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crypto/bytes.h"
#include "crypto/certificate.h"
#include "crypto/signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"

namespace tessera::governance {
namespace {

using crypto::testing::TestIdentity;
using crypto::testing::TestKeyType;
using crypto::testing::TestNotAfter;
using crypto::testing::TestNotBefore;
using crypto::testing::TestNow;
using crypto::testing::TestPki;
using tessera::testing::StatusIs;
using tessera::v1::RoundReceipt;
using tessera::v1::SignedReceipt;
using ::testing::AnyOf;
using ::testing::HasSubstr;

RoundReceipt Receipt(const std::string& site = "gosh") {
  RoundReceipt receipt;
  receipt.set_job_id("job-3f9c0a1b2c4d");
  receipt.set_round(2);
  receipt.set_attempt(1);
  receipt.set_site_id(site);
  receipt.set_spec_sha256(std::string(64, 'a'));
  receipt.set_model_sha256(std::string(64, 'b'));
  receipt.set_dataset("cohort");
  receipt.set_privacy_mode("record");
  receipt.set_noise_multiplier(1.1);
  receipt.set_clip_norm(1.0);
  receipt.set_sampling_rate(0.05);
  receipt.set_steps(40);
  receipt.set_events_json(R"([{"count":40,"event":{"kind":"poisson_gaussian"}}])");
  receipt.set_epsilon_before(0.8);
  receipt.set_epsilon_after(1.4);
  receipt.set_delta(1e-5);
  receipt.set_signed_unix_ms(1767225600000);
  return receipt;
}

ReceiptFiling FilingOf(const RoundReceipt& receipt) {
  return {receipt.job_id(), receipt.round(), receipt.attempt(), receipt.site_id()};
}

std::unique_ptr<crypto::PrivateKeySigner> SignerOf(const TestIdentity& identity) {
  auto signer = crypto::PrivateKeySigner::FromPem(identity.private_key_pem);
  EXPECT_OK(signer.status());
  return signer.ok() ? *std::move(signer) : nullptr;
}

// A SignedReceipt put together by hand (what a forger or a buggy site
// could send), signing kReceiptContext + `bytes` with `signer`.
SignedReceipt SignByHand(const std::string& bytes, const crypto::Signer& signer,
                         const std::string& certificate_pem) {
  SignedReceipt signed_receipt;
  signed_receipt.set_receipt(bytes);
  const std::string message = absl::StrCat(kReceiptContext, bytes);
  auto signature = signer.Sign(crypto::AsBytes(message));
  EXPECT_OK(signature.status());
  if (signature.ok()) signed_receipt.set_signature(std::string(crypto::AsStringView(*signature)));
  signed_receipt.set_certificate_pem(certificate_pem);
  return signed_receipt;
}

class ReceiptTest : public ::testing::TestWithParam<TestKeyType> {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, TestPki::Create("Tessera test CA", GetParam()));
    ASSERT_OK_AND_ASSIGN(gosh_, pki_->Issue("gosh", "site", GetParam()));
    ASSERT_OK_AND_ASSIGN(rfh_, pki_->Issue("rfh", "site", GetParam()));
    ASSERT_OK_AND_ASSIGN(verifier_, ReceiptVerifier::Create(pki_->ca().certificate_pem));
    gosh_signer_ = SignerOf(gosh_);
    rfh_signer_ = SignerOf(rfh_);
    ASSERT_NE(gosh_signer_, nullptr);
    ASSERT_NE(rfh_signer_, nullptr);
  }

  SignedReceipt Signed(const RoundReceipt& receipt) {
    auto signed_receipt = SignReceipt(receipt, *gosh_signer_, gosh_.certificate_pem);
    EXPECT_OK(signed_receipt.status());
    return signed_receipt.ok() ? *signed_receipt : SignedReceipt();
  }

  std::unique_ptr<TestPki> pki_;
  TestIdentity gosh_, rfh_;
  std::unique_ptr<crypto::PrivateKeySigner> gosh_signer_, rfh_signer_;
  std::unique_ptr<ReceiptVerifier> verifier_;
};

INSTANTIATE_TEST_SUITE_P(KeyTypes, ReceiptTest,
                         ::testing::Values(TestKeyType::kEcdsaP256, TestKeyType::kEd25519),
                         [](const auto& param_info) {
                           return param_info.param == TestKeyType::kEcdsaP256 ? "EcdsaP256"
                                                                              : "Ed25519";
                         });

TEST_P(ReceiptTest, SignedReceiptVerifiesAndCarriesItsValues) {
  const RoundReceipt receipt = Receipt();
  const SignedReceipt signed_receipt = Signed(receipt);
  EXPECT_EQ(signed_receipt.certificate_pem(), gosh_.certificate_pem);

  const ReceiptVerdict verdict = verifier_->Verify(signed_receipt, FilingOf(receipt), TestNow());
  ASSERT_TRUE(verdict.valid()) << verdict.detail;
  EXPECT_EQ(verdict.problem, ReceiptProblem::kNone);
  EXPECT_TRUE(verdict.detail.empty());
  ASSERT_TRUE(verdict.receipt.has_value());
  EXPECT_EQ(verdict.receipt->SerializeAsString(), receipt.SerializeAsString());
  EXPECT_EQ(verdict.receipt->epsilon_after(), 1.4);
  EXPECT_EQ(verdict.receipt->noise_multiplier(), 1.1);
}

// The documented format (proto/tessera.proto): the signature is over the
// 25-byte context string with its NUL and the receipt bytes as carried,
// not over the bytes alone.
TEST_P(ReceiptTest, SignatureCoversTheContextPrefixAndTheBytesAsCarried) {
  const SignedReceipt signed_receipt = Signed(Receipt());
  ASSERT_EQ(kReceiptContext.size(), 25u);
  EXPECT_EQ(kReceiptContext.back(), '\0');
  ASSERT_OK_AND_ASSIGN(auto certificate, crypto::Certificate::FromPem(gosh_.certificate_pem));
  ASSERT_OK_AND_ASSIGN(auto key, certificate->PublicKeyVerifier());
  const std::string with_context =
      std::string("tessera round receipt v1") + '\0' + signed_receipt.receipt();
  EXPECT_OK(
      key->Verify(crypto::AsBytes(with_context), crypto::AsBytes(signed_receipt.signature())));
  EXPECT_THAT(key->Verify(crypto::AsBytes(signed_receipt.receipt()),
                          crypto::AsBytes(signed_receipt.signature())),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_P(ReceiptTest, EveryFlippedByteOfTheReceiptIsRejected) {
  const RoundReceipt receipt = Receipt();
  const SignedReceipt original = Signed(receipt);
  const std::string& bytes = original.receipt();
  ASSERT_GT(bytes.size(), 100u);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (const uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      SignedReceipt tampered = original;
      (*tampered.mutable_receipt())[i] = static_cast<char>(bytes[i] ^ mask);
      const ReceiptVerdict verdict = verifier_->Verify(tampered, FilingOf(receipt), TestNow());
      EXPECT_FALSE(verdict.valid()) << "byte " << i << " mask " << int{mask};
      // Either the bytes no longer parse (or leave their ranges), or the
      // signature does not cover them.
      EXPECT_THAT(verdict.problem, AnyOf(ReceiptProblem::kMalformed, ReceiptProblem::kForged))
          << "byte " << i << ": " << verdict.detail;
      EXPECT_FALSE(verdict.receipt.has_value());
    }
  }
}

TEST_P(ReceiptTest, EveryFlippedByteOfTheSignatureIsForged) {
  const RoundReceipt receipt = Receipt();
  const SignedReceipt original = Signed(receipt);
  const std::string& signature = original.signature();
  ASSERT_FALSE(signature.empty());
  for (size_t i = 0; i < signature.size(); ++i) {
    for (const uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      SignedReceipt tampered = original;
      (*tampered.mutable_signature())[i] = static_cast<char>(signature[i] ^ mask);
      const ReceiptVerdict verdict = verifier_->Verify(tampered, FilingOf(receipt), TestNow());
      EXPECT_EQ(verdict.problem, ReceiptProblem::kForged) << "byte " << i << ": " << verdict.detail;
    }
  }
  // Truncated and extended signatures too.
  SignedReceipt shorter = original;
  shorter.mutable_signature()->pop_back();
  EXPECT_EQ(verifier_->Verify(shorter, FilingOf(receipt), TestNow()).problem,
            ReceiptProblem::kForged);
  SignedReceipt longer = original;
  longer.mutable_signature()->push_back('\0');
  EXPECT_EQ(verifier_->Verify(longer, FilingOf(receipt), TestNow()).problem,
            ReceiptProblem::kForged);
}

TEST_P(ReceiptTest, ReceiptSignedWithAnotherSitesKeyIsForged) {
  const RoundReceipt receipt = Receipt("gosh");
  // rfh signs a receipt about gosh and attaches gosh's certificate.
  const SignedReceipt forged =
      SignByHand(receipt.SerializeAsString(), *rfh_signer_, gosh_.certificate_pem);
  const ReceiptVerdict verdict = verifier_->Verify(forged, FilingOf(receipt), TestNow());
  EXPECT_EQ(verdict.problem, ReceiptProblem::kForged) << verdict.detail;
  EXPECT_THAT(verdict.detail, HasSubstr("site `gosh`"));
  EXPECT_THAT(verdict.detail, HasSubstr("round 2 attempt 1"));
  EXPECT_THAT(verdict.detail, HasSubstr("signature"));
  EXPECT_FALSE(verdict.receipt.has_value());
  // The coordinator's own signature check sees the same.
  EXPECT_THAT(VerifyReceiptSignature(forged, FilingOf(receipt)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("site `gosh`")));
}

TEST_P(ReceiptTest, ReceiptNamingAnotherSiteThanItsCertificateHasTheWrongSigner) {
  // rfh signs, correctly, with its own certificate, a receipt that says it
  // is gosh's.
  const RoundReceipt receipt = Receipt("gosh");
  const SignedReceipt signed_receipt =
      SignByHand(receipt.SerializeAsString(), *rfh_signer_, rfh_.certificate_pem);
  const ReceiptVerdict verdict = verifier_->Verify(signed_receipt, FilingOf(receipt), TestNow());
  EXPECT_EQ(verdict.problem, ReceiptProblem::kWrongSigner) << verdict.detail;
  EXPECT_THAT(verdict.detail, HasSubstr("CN=rfh"));
  // SignReceipt refuses to make one.
  EXPECT_THAT(SignReceipt(receipt, *rfh_signer_, rfh_.certificate_pem),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not site `gosh`")));
  // And the coordinator refuses it when gosh files it.
  EXPECT_THAT(CheckReceiptFiling(signed_receipt, FilingOf(receipt)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CN=rfh")));
}

TEST_P(ReceiptTest, CertificateFromAnotherCaIsUntrusted) {
  // Another CA issues a certificate for "gosh"; its holder signs a perfectly
  // consistent receipt that this federation's CA does not vouch for.
  ASSERT_OK_AND_ASSIGN(auto other_pki, TestPki::Create("Tessera test CA", GetParam()));
  ASSERT_OK_AND_ASSIGN(TestIdentity impostor, other_pki->Issue("gosh", "site", GetParam()));
  auto impostor_signer = SignerOf(impostor);
  ASSERT_NE(impostor_signer, nullptr);
  const RoundReceipt receipt = Receipt();
  ASSERT_OK_AND_ASSIGN(SignedReceipt signed_receipt,
                       SignReceipt(receipt, *impostor_signer, impostor.certificate_pem));
  // The signature itself is fine: only the CA check catches it.
  EXPECT_OK(VerifyReceiptSignature(signed_receipt, FilingOf(receipt)));
  const ReceiptVerdict verdict = verifier_->Verify(signed_receipt, FilingOf(receipt), TestNow());
  EXPECT_EQ(verdict.problem, ReceiptProblem::kUntrustedCertificate) << verdict.detail;
  EXPECT_THAT(verdict.detail, HasSubstr("federation CA"));
  EXPECT_FALSE(verdict.receipt.has_value());
}

TEST_P(ReceiptTest, CertificateIsCheckedAtTheGivenTime) {
  const RoundReceipt receipt = Receipt();
  const SignedReceipt signed_receipt = Signed(receipt);
  EXPECT_TRUE(verifier_->Verify(signed_receipt, FilingOf(receipt), TestNow()).valid());
  // Before the certificate's window and after it.
  EXPECT_EQ(verifier_->Verify(signed_receipt, FilingOf(receipt), TestNotBefore() - absl::Hours(1))
                .problem,
            ReceiptProblem::kUntrustedCertificate);
  EXPECT_EQ(
      verifier_->Verify(signed_receipt, FilingOf(receipt), TestNotAfter() + absl::Hours(1)).problem,
      ReceiptProblem::kUntrustedCertificate);
}

TEST_P(ReceiptTest, CertificateOfAnotherRoleIsUntrusted) {
  // A person's certificate with the site's name (OU=governance, CN=gosh).
  ASSERT_OK_AND_ASSIGN(TestIdentity person, pki_->Issue("gosh", "governance", GetParam()));
  auto person_signer = SignerOf(person);
  ASSERT_NE(person_signer, nullptr);
  const RoundReceipt receipt = Receipt();
  ASSERT_OK_AND_ASSIGN(SignedReceipt signed_receipt,
                       SignReceipt(receipt, *person_signer, person.certificate_pem));
  const ReceiptVerdict verdict = verifier_->Verify(signed_receipt, FilingOf(receipt), TestNow());
  EXPECT_EQ(verdict.problem, ReceiptProblem::kUntrustedCertificate) << verdict.detail;
  EXPECT_THAT(verdict.detail, HasSubstr("not a site certificate"));
}

TEST_P(ReceiptTest, ReceiptMovedToAnotherJobRoundAttemptOrSiteIsMisfiled) {
  const RoundReceipt receipt = Receipt();
  const SignedReceipt signed_receipt = Signed(receipt);
  const ReceiptFiling right = FilingOf(receipt);
  std::vector<ReceiptFiling> wrong(4, right);
  wrong[0].job_id = "job-000000000000";
  wrong[1].round = 3;
  wrong[2].attempt = 2;
  wrong[3].site_id = "rfh";
  for (const ReceiptFiling& filing : wrong) {
    const ReceiptVerdict verdict = verifier_->Verify(signed_receipt, filing, TestNow());
    EXPECT_EQ(verdict.problem, ReceiptProblem::kMisfiled)
        << filing.job_id << "/" << filing.round << "/" << filing.attempt << "/" << filing.site_id;
    EXPECT_THAT(verdict.detail, HasSubstr("but is for site `gosh` job `job-3f9c0a1b2c4d` round 2 "
                                          "attempt 1"));
    EXPECT_FALSE(verdict.receipt.has_value());
    EXPECT_THAT(CheckReceiptFiling(signed_receipt, filing),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("its own receipt")));
  }
}

TEST_P(ReceiptTest, MissingPartsAndUnparsableBytesAreMalformed) {
  const RoundReceipt receipt = Receipt();
  const ReceiptFiling filing = FilingOf(receipt);
  const SignedReceipt original = Signed(receipt);
  SignedReceipt no_signature = original;
  no_signature.clear_signature();
  SignedReceipt no_certificate = original;
  no_certificate.clear_certificate_pem();
  SignedReceipt no_bytes = original;
  no_bytes.clear_receipt();
  for (const SignedReceipt& broken : {no_signature, no_certificate, no_bytes}) {
    EXPECT_EQ(verifier_->Verify(broken, filing, TestNow()).problem, ReceiptProblem::kMalformed);
    EXPECT_THAT(CheckReceiptFiling(broken, filing),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no")));
  }
  // A field tag with a truncated length-delimited value does not parse, even
  // when correctly signed.
  const SignedReceipt garbage =
      SignByHand(std::string("\x0a\x50job", 5), *gosh_signer_, gosh_.certificate_pem);
  const ReceiptVerdict verdict = verifier_->Verify(garbage, filing, TestNow());
  EXPECT_EQ(verdict.problem, ReceiptProblem::kMalformed);
  EXPECT_THAT(verdict.detail, HasSubstr("not a RoundReceipt"));
  EXPECT_THAT(CheckReceiptFiling(garbage, filing),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a RoundReceipt")));
  // A certificate that is not one.
  SignedReceipt bad_certificate = original;
  bad_certificate.set_certificate_pem(
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(verifier_->Verify(bad_certificate, filing, TestNow()).problem,
            ReceiptProblem::kUntrustedCertificate);
  EXPECT_THAT(CheckReceiptFiling(bad_certificate, filing),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not parse")));
}

TEST_P(ReceiptTest, ValuesOutOfRangeAreMalformedEvenWhenSigned) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<RoundReceipt> bad(5, Receipt());
  bad[0].set_privacy_mode("sometimes");
  bad[1].set_noise_multiplier(-1);
  bad[2].set_epsilon_after(nan);
  bad[3].set_sampling_rate(1.5);
  bad[4].set_round(0);  // the statistics round has no receipt
  for (const RoundReceipt& receipt : bad) {
    EXPECT_THAT(SignReceipt(receipt, *gosh_signer_, gosh_.certificate_pem),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot sign")));
    const SignedReceipt signed_receipt =
        SignByHand(receipt.SerializeAsString(), *gosh_signer_, gosh_.certificate_pem);
    EXPECT_EQ(verifier_->Verify(signed_receipt, FilingOf(receipt), TestNow()).problem,
              ReceiptProblem::kMalformed)
        << receipt.ShortDebugString();
    EXPECT_THAT(CheckReceiptFiling(signed_receipt, FilingOf(receipt)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_P(ReceiptTest, SigningWithAKeyThatIsNotTheCertificatesFails) {
  EXPECT_THAT(SignReceipt(Receipt("gosh"), *rfh_signer_, gosh_.certificate_pem),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("does not belong to the site certificate")));
}

TEST_P(ReceiptTest, FilingCheckAcceptsTheRightFilingWithoutCheckingTheSignature) {
  const RoundReceipt receipt = Receipt();
  SignedReceipt signed_receipt = Signed(receipt);
  ASSERT_OK_AND_ASSIGN(RoundReceipt parsed, CheckReceiptFiling(signed_receipt, FilingOf(receipt)));
  EXPECT_EQ(parsed.SerializeAsString(), receipt.SerializeAsString());
  EXPECT_OK(VerifyReceiptSignature(signed_receipt, FilingOf(receipt)));
  // The cheap check is not the authority: a broken signature passes it and
  // is caught by the signature check (and the report).
  (*signed_receipt.mutable_signature())[0] ^= 0x01;
  EXPECT_OK(CheckReceiptFiling(signed_receipt, FilingOf(receipt)).status());
  EXPECT_THAT(VerifyReceiptSignature(signed_receipt, FilingOf(receipt)),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(ReceiptVerifierTest, RefusesACaThatDoesNotParse) {
  EXPECT_THAT(ReceiptVerifier::Create("not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("federation CA")));
}

TEST(ReceiptProblemTest, NamesAreStable) {
  EXPECT_EQ(ReceiptProblemName(ReceiptProblem::kNone), "valid");
  EXPECT_EQ(ReceiptProblemName(ReceiptProblem::kMalformed), "malformed");
  EXPECT_EQ(ReceiptProblemName(ReceiptProblem::kUntrustedCertificate), "untrusted-certificate");
  EXPECT_EQ(ReceiptProblemName(ReceiptProblem::kForged), "forged");
  EXPECT_EQ(ReceiptProblemName(ReceiptProblem::kWrongSigner), "wrong-signer");
  EXPECT_EQ(ReceiptProblemName(ReceiptProblem::kMisfiled), "misfiled");
}

}  // namespace
}  // namespace tessera::governance
