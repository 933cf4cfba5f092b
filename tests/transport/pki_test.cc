// The federation PKI: keys, CSRs, issuing, verification and CRLs, checked
// both through our own parser and through OpenSSL's verifier, with every
// failure mode an operator can meet.
#include "transport/pki.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::transport {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::tessera::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);  // 2027-01-15

struct Ca {
  std::string key;
  std::string cert;
};

Ca MakeCa(KeyType type = KeyType::kEcdsaP256, absl::string_view name = "Test federation") {
  Ca ca;
  ca.key = GeneratePrivateKeyPem(type).value();
  ca.cert = CreateCaCertificatePem(ca.key, name, kNow - absl::Hours(1), absl::Hours(24 * 3650))
                .value();
  return ca;
}

IssueRequest SiteRequest(const std::string& key_pem, const std::string& id, uint64_t serial) {
  IssueRequest request;
  request.subject = {id, Role::kSite};
  request.public_key_pem = PublicKeyPemOf(key_pem).value();
  request.serial = serial;
  request.not_before = kNow - absl::Hours(1);
  request.not_after = kNow + absl::Hours(24 * 365);
  return request;
}

class PkiTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(PkiTest, CsrRoundTripIssuesAVerifiableCertificate) {
  Ca ca = MakeCa(GetParam());
  ASSERT_OK_AND_ASSIGN(std::string site_key, GeneratePrivateKeyPem(GetParam()));
  ASSERT_OK_AND_ASSIGN(std::string csr, CreateCsrPem(site_key, {"rfh", Role::kSite}));
  ASSERT_OK_AND_ASSIGN(CsrInfo info, ParseCsr(csr));
  EXPECT_EQ(info.common_name, "rfh");
  EXPECT_EQ(info.organizational_unit, "site");

  IssueRequest request = SiteRequest(site_key, "rfh", 0x1F);
  request.public_key_pem = info.public_key_pem;
  ASSERT_OK_AND_ASSIGN(std::string cert, IssueCertificatePem(ca.cert, ca.key, request));
  EXPECT_OK(VerifyCertificate(ca.cert, cert, kNow));
  EXPECT_OK(CheckKeyMatchesCertificate(site_key, cert));

  ASSERT_OK_AND_ASSIGN(CertificateInfo parsed, ParseCertificate(cert));
  EXPECT_EQ(parsed.serial_hex, "1F");
  EXPECT_EQ(parsed.common_name, "rfh");
  EXPECT_EQ(parsed.role_name, "site");
  EXPECT_EQ(parsed.issuer_common_name, "Test federation CA");
  EXPECT_EQ(parsed.not_after, request.not_after);
  EXPECT_FALSE(parsed.is_ca);
  EXPECT_THAT(parsed.sha256_fingerprint_hex, SizeIs(64));
  EXPECT_THAT(parsed.dns_names, ::testing::IsEmpty());
  EXPECT_THAT(parsed.ip_addresses, ::testing::IsEmpty());

  // The identity gRPC handlers see comes from the same fields.
  ASSERT_OK_AND_ASSIGN(PeerIdentity identity, IdentityFromCertificatePem(cert));
  EXPECT_EQ(identity.id, "rfh");
  EXPECT_EQ(identity.role, Role::kSite);

  ASSERT_OK_AND_ASSIGN(CertificateInfo ca_info, ParseCertificate(ca.cert));
  EXPECT_TRUE(ca_info.is_ca);
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, PkiTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kEd25519));

TEST(PkiErrorsTest, ExpiredAndNotYetValidCertificatesNameTheDate) {
  Ca ca = MakeCa();
  std::string key = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();
  ASSERT_OK_AND_ASSIGN(std::string cert,
                       IssueCertificatePem(ca.cert, ca.key, SiteRequest(key, "leeds", 7)));
  EXPECT_THAT(VerifyCertificate(ca.cert, cert, kNow + absl::Hours(24 * 366)),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("certificate of `leeds` (serial 7) expired on 2028-01-")));
  EXPECT_THAT(VerifyCertificate(ca.cert, cert, kNow - absl::Hours(2)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("is not valid until")));
}

TEST(PkiErrorsTest, CertificateFromAnotherCaIsNamedAsSuch) {
  Ca ours = MakeCa();
  Ca theirs = MakeCa(KeyType::kEcdsaP256, "Other federation");
  std::string key = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();
  ASSERT_OK_AND_ASSIGN(std::string cert,
                       IssueCertificatePem(theirs.cert, theirs.key, SiteRequest(key, "x", 2)));
  EXPECT_THAT(VerifyCertificate(ours.cert, cert, kNow),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("was not issued by this federation's CA (`Test federation CA`)")));
}

TEST(PkiErrorsTest, CaKeyMustMatchCaCertificate) {
  Ca ca = MakeCa();
  Ca other = MakeCa();
  std::string key = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();
  EXPECT_THAT(IssueCertificatePem(ca.cert, other.key, SiteRequest(key, "a", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not belong")));
}

TEST(PkiErrorsTest, KeyOfAnotherPartyDoesNotMatch) {
  Ca ca = MakeCa();
  std::string key = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();
  std::string other = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();
  std::string cert = IssueCertificatePem(ca.cert, ca.key, SiteRequest(key, "a", 1)).value();
  EXPECT_THAT(CheckKeyMatchesCertificate(other, cert),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("another key")));
}

TEST(PkiErrorsTest, BadRequestsAreRefused) {
  Ca ca = MakeCa();
  std::string key = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();

  IssueRequest bad_id = SiteRequest(key, "rfh; DROP", 1);
  EXPECT_THAT(IssueCertificatePem(ca.cert, ca.key, bad_id),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("may only contain")));

  IssueRequest zero_serial = SiteRequest(key, "rfh", 0);
  EXPECT_THAT(IssueCertificatePem(ca.cert, ca.key, zero_serial),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("serial")));

  IssueRequest backwards = SiteRequest(key, "rfh", 3);
  backwards.not_after = backwards.not_before;
  EXPECT_THAT(IssueCertificatePem(ca.cert, ca.key, backwards),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expire after")));

  IssueRequest client_with_name = SiteRequest(key, "rfh", 4);
  client_with_name.dns_names = {"rfh.nhs.uk"};
  EXPECT_THAT(IssueCertificatePem(ca.cert, ca.key, client_with_name),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only for the coordinator")));

  IssueRequest server = SiteRequest(key, "coordinator", 5);
  server.subject.role = Role::kCoordinator;
  EXPECT_THAT(IssueCertificatePem(ca.cert, ca.key, server),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least one DNS name")));
  server.ip_addresses = {"300.1.1.1"};
  EXPECT_THAT(IssueCertificatePem(ca.cert, ca.key, server),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not an IP address")));
  server.ip_addresses = {"127.0.0.1", "::1"};
  server.dns_names = {"localhost"};
  ASSERT_OK_AND_ASSIGN(std::string server_cert, IssueCertificatePem(ca.cert, ca.key, server));
  // The names read back are the ones requested (what `tessera-coordinator
  // check` compares with server.listen).
  ASSERT_OK_AND_ASSIGN(CertificateInfo parsed, ParseCertificate(server_cert));
  EXPECT_THAT(parsed.dns_names, ::testing::ElementsAre("localhost"));
  EXPECT_THAT(parsed.ip_addresses, ::testing::ElementsAre("127.0.0.1", "::1"));
}

TEST(PkiErrorsTest, GarbageInputsGetClearErrors) {
  EXPECT_THAT(ParseCsr("not a csr"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CERTIFICATE REQUEST")));
  EXPECT_THAT(ParseCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PublicKeyPemOf("nope"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseKeyType("rsa"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PkiErrorsTest, TamperedCsrSignatureIsRejected) {
  std::string key = GeneratePrivateKeyPem(KeyType::kEcdsaP256).value();
  std::string csr = CreateCsrPem(key, {"rfh", Role::kSite}).value();
  // Flip one base64 character inside the body (the signature sits near the
  // end). Every variant must either fail to parse or fail to verify.
  const size_t end = csr.find("-----END");
  ASSERT_NE(end, std::string::npos);
  int rejected = 0;
  for (size_t offset = 10; offset <= 40; offset += 5) {
    std::string tampered = csr;
    char& c = tampered[end - offset];
    if (c == '\n' || c == '=') continue;
    c = c == 'A' ? 'B' : 'A';
    EXPECT_THAT(ParseCsr(tampered), StatusIs(absl::StatusCode::kInvalidArgument)) << offset;
    ++rejected;
  }
  EXPECT_GT(rejected, 3);
}

TEST(CrlTest, RevokedSerialsRoundTripAndForeignCrlsAreRefused) {
  Ca ca = MakeCa();
  std::vector<RevokedEntry> revoked = {{"1F", kNow - absl::Hours(3)}, {"2", kNow}};
  ASSERT_OK_AND_ASSIGN(std::string crl,
                       CreateCrlPem(ca.cert, ca.key, revoked, kNow, absl::Hours(24 * 7)));
  ASSERT_OK_AND_ASSIGN(RevocationList list, ParseCrl(ca.cert, crl));
  EXPECT_EQ(list.issued_at, kNow);
  ASSERT_THAT(list.revoked, SizeIs(2));
  // The CRL is sorted by serial.
  EXPECT_EQ(list.revoked[0].serial_hex, "2");
  EXPECT_EQ(list.revoked[1].serial_hex, "1F");
  EXPECT_EQ(list.revoked[1].revoked_at, kNow - absl::Hours(3));

  ASSERT_OK_AND_ASSIGN(std::string empty, CreateCrlPem(ca.cert, ca.key, {}, kNow, absl::Hours(1)));
  ASSERT_OK_AND_ASSIGN(RevocationList none, ParseCrl(ca.cert, empty));
  EXPECT_TRUE(none.revoked.empty());

  Ca other = MakeCa(KeyType::kEcdsaP256, "Other federation");
  ASSERT_OK_AND_ASSIGN(std::string forged,
                       CreateCrlPem(other.cert, other.key, {}, kNow, absl::Hours(1)));
  EXPECT_THAT(ParseCrl(ca.cert, forged),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not signed")));
  EXPECT_THAT(ParseCrl(ca.cert, "junk"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CreateCrlPem(ca.cert, ca.key, {{"XYZ", kNow}}, kNow, absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a hex number")));
}

}  // namespace
}  // namespace tessera::transport
