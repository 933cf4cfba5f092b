// The coordinator's audit-head signer on a real SQLite store: it signs the
// head once per change and never twice (also across a restart), its heads
// verify with the verifier the `tessera` tool uses, it refuses to sign a
// chain that was altered, rewritten or cut short, the final signing on
// Stop covers the last entry, and it loads only a coordinator certificate
// with its own key.
#include "coordinator/audit_signer.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::coordinator {
namespace {

using crypto::testing::TestIdentity;
using crypto::testing::TestKeyType;
using crypto::testing::TestNow;
using crypto::testing::TestPki;
using tessera::testing::StatusIs;
using tessera::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::SizeIs;

AuditEvent Event(absl::Time time, int n) {
  return {time, "alice", "operator", "site.enrolled", absl::StrCat("site-", n), "{}"};
}

void ExpectNothingSigned(AuditSigner& signer) {
  auto head = signer.SignHead();
  ASSERT_OK(head.status());
  EXPECT_FALSE(head->has_value()) << "signed entry " << (*head)->sequence;
}

class AuditSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, Store::Open(":memory:"));
    ASSERT_OK_AND_ASSIGN(pki_, TestPki::Create("federation-ca", TestKeyType::kEcdsaP256));
    ASSERT_OK_AND_ASSIGN(coordinator_,
                         pki_->Issue("coordinator", "coordinator", TestKeyType::kEcdsaP256));
    signer_ = NewSigner();
  }

  std::unique_ptr<AuditSigner> NewSigner() {
    return std::make_unique<AuditSigner>(
        *store_, clock_, crypto::PrivateKeySigner::FromPem(coordinator_.private_key_pem).value(),
        coordinator_.certificate_pem);
  }

  void Append(int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_OK(store_->AppendAudit(Event(clock_.Now(), ++appended_)).status());
    }
  }

  // What `tessera audit verify` would conclude from the store's contents.
  AuditLogReport VerifyAll() {
    std::vector<AuditEntry> entries = store_->ReadAudit(0, 1000).value();
    std::vector<AuditHeadRecord> heads = store_->ListAuditHeads(0).value();
    return VerifyAuditLog(entries, heads, pki_->ca().certificate_pem).value();
  }

  FakeClock clock_{TestNow()};
  std::unique_ptr<Store> store_;
  std::unique_ptr<TestPki> pki_;
  TestIdentity coordinator_;
  std::unique_ptr<AuditSigner> signer_;
  int appended_ = 0;
};

TEST_F(AuditSignerTest, SignsNothingWhileTheLogIsEmpty) {
  ExpectNothingSigned(*signer_);
  EXPECT_THAT(store_->ListAuditHeads(0).value(), SizeIs(0));
}

TEST_F(AuditSignerTest, SignsTheHeadOncePerChange) {
  Append(3);
  ASSERT_OK_AND_ASSIGN(std::optional<AuditHeadRecord> first, signer_->SignHead());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->sequence, 3);
  EXPECT_EQ(first->hash, store_->LatestAudit().value()->hash);
  EXPECT_EQ(first->signed_at, TestNow());
  EXPECT_EQ(first->certificate_pem, coordinator_.certificate_pem);

  // Nothing changed: nothing signed.
  clock_.Advance(absl::Minutes(1));
  ExpectNothingSigned(*signer_);

  Append(2);
  ASSERT_OK_AND_ASSIGN(std::optional<AuditHeadRecord> second, signer_->SignHead());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->sequence, 5);

  ASSERT_OK_AND_ASSIGN(std::vector<AuditHeadRecord> heads, store_->ListAuditHeads(0));
  ASSERT_THAT(heads, SizeIs(2));
  EXPECT_EQ(heads[0].signature, first->signature);  // the stored record is the one returned
  EXPECT_EQ(heads[1].signed_at, TestNow() + absl::Minutes(1));

  AuditLogReport report = VerifyAll();
  EXPECT_FALSE(report.problem.has_value()) << report.problem->description;
  EXPECT_EQ(report.signed_heads, 2);
  EXPECT_EQ(report.unsigned_entries, 0);
}

TEST_F(AuditSignerTest, DoesNotSignAgainAfterARestart) {
  Append(2);
  ASSERT_OK(signer_->SignHead().status());
  std::unique_ptr<AuditSigner> restarted = NewSigner();
  ExpectNothingSigned(*restarted);
  Append(1);
  ASSERT_OK_AND_ASSIGN(auto head, restarted->SignHead());
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->sequence, 3);
}

TEST_F(AuditSignerTest, RefusesToSignAnAlteredChain) {
  Append(4);
  ASSERT_OK(
      store_->database().Exec("UPDATE audit_log SET details = '{\"x\":1}' WHERE sequence = 2"));
  EXPECT_THAT(signer_->SignHead(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("entry 2 was altered")));
  // And keeps refusing, also once new entries arrive.
  Append(1);
  EXPECT_THAT(signer_->SignHead(), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(store_->ListAuditHeads(0).value(), SizeIs(0));
}

TEST_F(AuditSignerTest, RefusesToSignAChainRewrittenUnderASignedHead) {
  Append(3);
  ASSERT_OK(signer_->SignHead().status());
  // Entry 2 altered and entries 2 and 3 re-hashed, as someone with the
  // database file but without the coordinator's key would.
  std::vector<AuditEntry> entries = store_->ReadAudit(0, 10).value();
  entries[1].event.subject = "someone-else";
  entries[1].hash = AuditHash(entries[1].previous_hash, 2, entries[1].event);
  entries[2].previous_hash = entries[1].hash;
  entries[2].hash = AuditHash(entries[2].previous_hash, 3, entries[2].event);
  for (size_t i = 1; i < 3; ++i) {
    Statement update = store_->database()
                           .Prepare(
                               "UPDATE audit_log SET subject = ?, previous_hash = ?, hash = ? "
                               "WHERE sequence = ?")
                           .value();
    update.Bind(1, entries[i].event.subject)
        .Bind(2, entries[i].previous_hash)
        .Bind(3, entries[i].hash)
        .Bind(4, entries[i].sequence);
    ASSERT_OK(update.Run());
  }
  Append(1);  // links to the rewritten entry 3
  // The running signer: entry 4 does not follow the entry 3 it checked.
  EXPECT_THAT(signer_->SignHead(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("entry 4 does not follow")));
  // A restarted one: entry 3 is not what was signed.
  EXPECT_THAT(NewSigner()->SignHead(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("entry 3 no longer has the hash the coordinator signed")));
}

TEST_F(AuditSignerTest, RefusesToSignALogCutShort) {
  Append(5);
  ASSERT_OK(signer_->SignHead().status());
  ASSERT_OK(store_->database().Exec("DELETE FROM audit_log WHERE sequence > 3"));
  EXPECT_THAT(signer_->SignHead(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("deleted from the end")));
  // A restarted coordinator finds the signed head beyond the end, also once
  // new entries have taken the deleted numbers.
  Append(1);
  EXPECT_THAT(NewSigner()->SignHead(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("signed entry 5 but the log ends at entry 4")));
  EXPECT_THAT(store_->ListAuditHeads(0).value(), SizeIs(1));
}

TEST_F(AuditSignerTest, StopSignsTheLastEntry) {
  Append(2);
  signer_->Start(absl::Hours(1));
  Append(3);
  signer_->Stop();
  ASSERT_OK_AND_ASSIGN(std::optional<AuditEntry> last, store_->LatestAudit());
  ASSERT_OK_AND_ASSIGN(std::vector<AuditHeadRecord> heads, store_->ListAuditHeads(0));
  ASSERT_FALSE(heads.empty());
  EXPECT_EQ(heads.back().sequence, last->sequence);
  // Stopped: a second Stop signs nothing more.
  Append(1);
  signer_->Stop();
  EXPECT_EQ(store_->ListAuditHeads(0).value().back().sequence, 5);
}

TEST_F(AuditSignerTest, LoadsOnlyACoordinatorCertificateWithItsKey) {
  TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.File("coordinator.pem"), coordinator_.certificate_pem, 0644));
  ASSERT_OK(WriteFileAtomically(dir.File("coordinator.key"), coordinator_.private_key_pem, 0600));
  ASSERT_OK_AND_ASSIGN(auto loaded,
                       AuditSigner::FromFiles(*store_, clock_, dir.File("coordinator.pem"),
                                              dir.File("coordinator.key")));
  Append(1);
  ASSERT_OK_AND_ASSIGN(auto head, loaded->SignHead());
  EXPECT_TRUE(head.has_value());
  EXPECT_FALSE(VerifyAll().problem.has_value());

  ASSERT_OK_AND_ASSIGN(TestIdentity site, pki_->Issue("rfh", "site", TestKeyType::kEcdsaP256));
  ASSERT_OK(WriteFileAtomically(dir.File("site.pem"), site.certificate_pem, 0644));
  ASSERT_OK(WriteFileAtomically(dir.File("site.key"), site.private_key_pem, 0600));
  EXPECT_THAT(AuditSigner::FromFiles(*store_, clock_, dir.File("site.pem"), dir.File("site.key")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not of the coordinator")));
  EXPECT_THAT(
      AuditSigner::FromFiles(*store_, clock_, dir.File("coordinator.pem"), dir.File("site.key")),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      AuditSigner::FromFiles(*store_, clock_, dir.File("missing.pem"), dir.File("coordinator.key")),
      StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace tessera::coordinator
