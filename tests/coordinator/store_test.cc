// The coordinator's store: site records, and an audit chain that reveals
// the first altered, deleted or re-ordered entry when the database file is
// edited behind the coordinator's back.
#include "coordinator/store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

AuditEvent Event(int i) {
  return {kNow + absl::Seconds(i), "alice", "operator", "certificate.revoked",
          absl::StrCat("serial-", i), absl::StrCat("{\"n\":", i, "}")};
}

TEST(StoreTest, SitesMergeEnrolmentAndSightings) {
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(":memory:"));
  ASSERT_OK(store->RecordEnrolment("rfh", "1A", kNow + absl::Hours(9000), "alice", kNow));
  ASSERT_OK(store->RecordSeen("guys", "2B", kNow + absl::Hours(100), kNow + absl::Minutes(1)));
  ASSERT_OK(store->RecordSeen("rfh", "1A", kNow + absl::Hours(9000), kNow + absl::Minutes(2)));
  ASSERT_OK_AND_ASSIGN(auto sites, store->ListSites());
  ASSERT_THAT(sites, SizeIs(2));
  EXPECT_EQ(sites[0].site_id, "guys");
  EXPECT_FALSE(sites[0].enrolled_at.has_value());
  EXPECT_EQ(sites[1].site_id, "rfh");
  EXPECT_EQ(sites[1].enrolled_at, kNow);
  EXPECT_EQ(sites[1].enrolled_by, "alice");
  EXPECT_EQ(sites[1].last_seen, kNow + absl::Minutes(2));
}

TEST(StoreTest, AuditChainVerifiesAndSurvivesReopening) {
  TempDir dir;
  const std::string path = dir.File("coordinator.db");
  std::string head;
  {
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
    ASSERT_OK_AND_ASSIGN(AuditCheck empty, store->VerifyAuditChain());
    EXPECT_EQ(empty.entries, 0);
    for (int i = 1; i <= 5; ++i) {
      ASSERT_OK_AND_ASSIGN(AuditEntry entry, store->AppendAudit(Event(i)));
      EXPECT_EQ(entry.sequence, i);
      head = entry.hash;
    }
  }
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(path));
  ASSERT_OK_AND_ASSIGN(AuditCheck check, store->VerifyAuditChain());
  EXPECT_EQ(check.entries, 5);
  EXPECT_FALSE(check.first_bad.has_value()) << check.problem;
  EXPECT_EQ(check.head_hash, head);
  ASSERT_OK_AND_ASSIGN(auto tail, store->ReadAudit(3, 10));
  ASSERT_THAT(tail, SizeIs(2));
  EXPECT_EQ(tail[0].event.subject, "serial-4");
  EXPECT_EQ(tail[0].previous_hash, store->ReadAudit(2, 1).value()[0].hash);
}

class AuditTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, Store::Open(":memory:"));
    for (int i = 1; i <= 6; ++i) ASSERT_OK(store_->AppendAudit(Event(i)).status());
  }
  AuditCheck Verify() { return store_->VerifyAuditChain().value(); }
  std::unique_ptr<Store> store_;
};

TEST_F(AuditTamperTest, AlteredEntryIsFound) {
  ASSERT_OK(store_->database().Exec("UPDATE audit_log SET details = '{\"n\":99}' WHERE sequence = 4"));
  AuditCheck check = Verify();
  EXPECT_EQ(check.first_bad, 4);
  EXPECT_THAT(check.problem, HasSubstr("altered"));
}

TEST_F(AuditTamperTest, DeletedEntryIsFound) {
  ASSERT_OK(store_->database().Exec("DELETE FROM audit_log WHERE sequence = 3"));
  AuditCheck check = Verify();
  EXPECT_EQ(check.first_bad, 4);
  EXPECT_THAT(check.problem, HasSubstr("entry 3 is missing"));
}

TEST_F(AuditTamperTest, DeletedAndRenumberedEntryIsFound) {
  ASSERT_OK(store_->database().Exec(
      "DELETE FROM audit_log WHERE sequence = 3; "
      "UPDATE audit_log SET sequence = sequence - 1 WHERE sequence > 3"));
  AuditCheck check = Verify();
  EXPECT_EQ(check.first_bad, 3);
}

TEST_F(AuditTamperTest, ReorderedEntriesAreFound) {
  ASSERT_OK(store_->database().Exec(
      "UPDATE audit_log SET sequence = -2 WHERE sequence = 2; "
      "UPDATE audit_log SET sequence = 2 WHERE sequence = 5; "
      "UPDATE audit_log SET sequence = 5 WHERE sequence = -2"));
  AuditCheck check = Verify();
  EXPECT_EQ(check.first_bad, 2);
  EXPECT_THAT(check.problem, HasSubstr("does not follow"));
}

TEST_F(AuditTamperTest, RehashedEntryStillBreaksTheNextLink) {
  // An attacker who alters entry 2 and recomputes its own hash is caught at 3.
  AuditEvent changed = Event(2);
  changed.subject = "someone-else";
  const std::string genesis_next = store_->ReadAudit(0, 1).value()[0].hash;
  Statement update = store_->database()
                         .Prepare("UPDATE audit_log SET subject = ?, hash = ? WHERE sequence = 2")
                         .value();
  update.Bind(1, changed.subject).Bind(2, AuditHash(genesis_next, 2, changed));
  ASSERT_OK(update.Run());
  AuditCheck check = Verify();
  EXPECT_EQ(check.first_bad, 3);
}

TEST(StoreTest, ForeignDatabaseIsRefused) {
  TempDir dir;
  DatabaseOptions other;
  other.application_id = 7;
  other.migrations = {{1, "CREATE TABLE sites (x);"}};
  ASSERT_OK(Database::Open(dir.File("other.db"), other).status());
  EXPECT_THAT(Store::Open(dir.File("other.db")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("another application")));
}

}  // namespace
}  // namespace tessera::coordinator
