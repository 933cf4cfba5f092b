// The operator's CA directory: created once, never overwritten, every issue
// and revocation recorded, and a damaged directory reported, not reused.
#include "coordinator/cli/ca_directory.h"

#include <sys/stat.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::cli {
namespace {

using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

mode_t ModeOf(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 ? (info.st_mode & 07777) : 0;
}

std::string SitePublicKey() {
  return transport::PublicKeyPemOf(
             transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value())
      .value();
}

TEST(CaDirectoryTest, InitIssueRevokeAndReopen) {
  TempDir dir;
  const std::string ca_dir = dir.File("ca");
  ASSERT_OK_AND_ASSIGN(CaDirectory ca, CaDirectory::Init(ca_dir, "NHS North", transport::KeyType::kEcdsaP256,
                                                         absl::Hours(24 * 3650), kNow));
  EXPECT_EQ(ModeOf(ca_dir), 0700u);
  EXPECT_EQ(ModeOf(ca.Path("ca.key")), 0600u);
  EXPECT_EQ(ModeOf(ca.Path("ca.pem")), 0644u);

  ASSERT_OK_AND_ASSIGN(std::string cert, ca.Issue({"rfh", transport::Role::kSite}, SitePublicKey(),
                                                  absl::Hours(24 * 365), kNow));
  ASSERT_OK(transport::VerifyCertificate(ca.ca_cert_pem(), cert, kNow));
  ASSERT_OK(ca.Issue({"rfh", transport::Role::kSite}, SitePublicKey(), absl::Hours(24), kNow)
                .status());
  ASSERT_THAT(ca.issued(), SizeIs(2));
  EXPECT_NE(ca.issued()[0].serial_hex, ca.issued()[1].serial_hex);

  // Revoking by id takes every certificate of that site.
  ASSERT_OK_AND_ASSIGN(auto revoked, ca.Revoke("rfh", /*by_id=*/true, kNow + absl::Hours(1)));
  EXPECT_THAT(revoked, SizeIs(2));
  EXPECT_THAT(ca.Revoke("rfh", true, kNow), StatusIs(absl::StatusCode::kNotFound));

  ASSERT_OK_AND_ASSIGN(CaDirectory reopened, CaDirectory::Open(ca_dir));
  EXPECT_EQ(reopened.federation_name(), "NHS North");
  ASSERT_THAT(reopened.issued(), SizeIs(2));
  EXPECT_EQ(reopened.issued()[0].revoked_at, kNow + absl::Hours(1));
  std::ifstream crl_file(reopened.Path("crl.pem"));
  std::string crl((std::istreambuf_iterator<char>(crl_file)), std::istreambuf_iterator<char>());
  ASSERT_OK_AND_ASSIGN(transport::RevocationList list,
                       transport::ParseCrl(reopened.ca_cert_pem(), crl));
  EXPECT_THAT(list.revoked, SizeIs(2));
}

// A server whose clock runs up to an hour behind the operator's accepts a
// federation made a minute ago; the expiry is what the operator asked for.
TEST(CaDirectoryTest, CertificatesAreValidFromAnHourBeforeTheyAreMade) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(CaDirectory ca, CaDirectory::Init(dir.File("ca"), "NHS North",
                                                         transport::KeyType::kEcdsaP256,
                                                         absl::Hours(24), kNow));
  ASSERT_OK_AND_ASSIGN(std::string cert, ca.Issue({"rfh", transport::Role::kSite}, SitePublicKey(),
                                                  absl::Hours(24), kNow + absl::Minutes(1)));
  // 59 minutes behind the issuing clock (a clock 10 minutes behind is
  // what the end-to-end test of skewed agents runs with).
  EXPECT_OK(transport::VerifyCertificate(ca.ca_cert_pem(), cert, kNow - absl::Minutes(58)));
  EXPECT_THAT(transport::VerifyCertificate(ca.ca_cert_pem(), cert, kNow - absl::Minutes(62)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_THAT(ca.issued(), SizeIs(1));
  EXPECT_EQ(ca.issued()[0].not_before, kNow + absl::Minutes(1) - absl::Hours(1));
  EXPECT_EQ(ca.issued()[0].not_after, kNow + absl::Minutes(1) + absl::Hours(24));
  ASSERT_OK_AND_ASSIGN(transport::CertificateInfo ca_info,
                       transport::ParseCertificate(ca.ca_cert_pem()));
  EXPECT_EQ(ca_info.not_before, kNow - absl::Hours(1));
  EXPECT_EQ(ca_info.not_after, kNow + absl::Hours(24));
}

TEST(CaDirectoryTest, NeverOverwritesACa) {
  TempDir dir;
  ASSERT_OK(CaDirectory::Init(dir.File("ca"), "A", transport::KeyType::kEd25519,
                              absl::Hours(24), kNow)
                .status());
  EXPECT_THAT(CaDirectory::Init(dir.File("ca"), "B", transport::KeyType::kEd25519,
                                absl::Hours(24), kNow),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("never overwritten")));
  ASSERT_OK_AND_ASSIGN(CaDirectory ca, CaDirectory::Open(dir.File("ca")));
  EXPECT_EQ(ca.federation_name(), "A");
}

TEST(CaDirectoryTest, DamagedDirectoriesAreReported) {
  TempDir dir;
  EXPECT_THAT(CaDirectory::Open(dir.File("nothing")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("tessera pki init")));

  ASSERT_OK(CaDirectory::Init(dir.File("ca"), "A", transport::KeyType::kEcdsaP256,
                              absl::Hours(24), kNow)
                .status());
  ASSERT_EQ(::chmod(dir.File("ca/ca.key").c_str(), 0640), 0);
  EXPECT_THAT(CaDirectory::Open(dir.File("ca")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("chmod 600")));
  ASSERT_EQ(::chmod(dir.File("ca/ca.key").c_str(), 0600), 0);

  std::ofstream(dir.File("ca/issued.json")) << "{\"federation\": \"A\", \"certificates\": [{}]}";
  EXPECT_THAT(CaDirectory::Open(dir.File("ca")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is corrupt")));
  std::ofstream(dir.File("ca/issued.json")) << "not json";
  EXPECT_THAT(CaDirectory::Open(dir.File("ca")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("restore it from backup")));
}

}  // namespace
}  // namespace tessera::cli
