// The coordinator's revocation list: only CA-signed lists are taken, never
// an older one than in force, and file changes are picked up.
#include "coordinator/revocations.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "transport/pki.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

struct Ca {
  std::string key = transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256).value();
  std::string cert = transport::CreateCaCertificatePem(key, "Test", kNow - absl::Hours(1),
                                                       absl::Hours(24 * 365))
                         .value();
  std::string Crl(std::vector<transport::RevokedEntry> revoked, absl::Time at) const {
    return transport::CreateCrlPem(cert, key, revoked, at, absl::Hours(24)).value();
  }
};

TEST(RevocationsTest, AppliesCaSignedListsAndRefusesOlderOnes) {
  Ca ca;
  Revocations revocations(ca.cert, "");
  EXPECT_FALSE(revocations.RevokedAt("1F").has_value());
  ASSERT_OK_AND_ASSIGN(size_t count, revocations.Apply(ca.Crl({{"1F", kNow}}, kNow), false));
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(revocations.RevokedAt("1F"), kNow);

  // Replaying the empty list from before would un-revoke 1F.
  EXPECT_THAT(revocations.Apply(ca.Crl({}, kNow - absl::Hours(1)), false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("before the one in force")));
  EXPECT_TRUE(revocations.RevokedAt("1F").has_value());

  Ca other;
  EXPECT_THAT(revocations.Apply(other.Crl({}, kNow + absl::Hours(1)), false),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(revocations.size(), 1u);

  ASSERT_OK(revocations.Apply(ca.Crl({{"2", kNow}, {"1F", kNow}}, kNow + absl::Hours(2)), false)
                .status());
  EXPECT_EQ(revocations.size(), 2u);
}

TEST(RevocationsTest, ReloadsTheFileWhenItChangesAndPersistsPublishedLists) {
  Ca ca;
  TempDir dir;
  const std::string path = dir.File("crl.pem");
  Revocations revocations(ca.cert, path);
  EXPECT_OK(revocations.ReloadIfChanged());  // no file yet: nothing revoked
  EXPECT_EQ(revocations.size(), 0u);

  std::ofstream(path) << ca.Crl({{"A1", kNow}}, kNow);
  ASSERT_OK(revocations.ReloadIfChanged());
  EXPECT_TRUE(revocations.RevokedAt("A1").has_value());

  // A published list is written to the file, and a second reader of that
  // file (a restarted coordinator) sees it.
  ASSERT_OK(revocations.Apply(ca.Crl({{"A1", kNow}, {"B2", kNow}}, kNow + absl::Hours(1)), true)
                .status());
  Revocations restarted(ca.cert, path);
  ASSERT_OK(restarted.ReloadIfChanged());
  EXPECT_TRUE(restarted.RevokedAt("B2").has_value());

  // A corrupt file is reported, and the list in force stays.
  std::ofstream(path) << "garbage";
  EXPECT_THAT(restarted.ReloadIfChanged(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("crl.pem")));
  EXPECT_TRUE(restarted.RevokedAt("B2").has_value());
}

}  // namespace
}  // namespace tessera::coordinator
