// The audit chain's rules (coordinator/audit_chain.h): the entry hash and
// signed-head message against values computed independently, and
// VerifyAuditLog on an intact log and on every kind of tampering the board
// must catch — altered details, a deleted entry (in the middle, with the
// later ones renumbered, and at the end), swapped entries, an entry
// replaced and re-hashed, the chain rewritten, and signed heads that are
// forged, signed by a certificate that is not the coordinator's, by a
// coordinator of another CA, or outside its certificate's validity.
#include "coordinator/audit_chain.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "crypto/bytes.h"
#include "crypto/signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

using crypto::testing::TestIdentity;
using crypto::testing::TestKeyType;
using crypto::testing::TestNow;
using crypto::testing::TestPki;
using tessera::testing::StatusIs;
using ::testing::HasSubstr;

AuditEvent Event(int n) {
  return {TestNow() + absl::Seconds(n), absl::StrCat("person-", n),     "operator", "site.enrolled",
          absl::StrCat("site-", n),     absl::StrCat("{\"n\":", n, "}")};
}

// A log of `n` entries as the coordinator writes it.
std::vector<AuditEntry> Chain(int n) {
  std::vector<AuditEntry> entries;
  std::string previous = kAuditGenesisHash;
  for (int i = 1; i <= n; ++i) {
    AuditEntry entry{i, Event(i), previous, ""};
    entry.hash = AuditHash(previous, i, entry.event);
    previous = entry.hash;
    entries.push_back(entry);
  }
  return entries;
}

// Recomputes every hash from entry `from` on, as an attacker who rewrites
// the chain would.
void Rehash(std::vector<AuditEntry>& entries, size_t from) {
  for (size_t i = from; i < entries.size(); ++i) {
    entries[i].previous_hash = i == 0 ? kAuditGenesisHash : entries[i - 1].hash;
    entries[i].hash = AuditHash(entries[i].previous_hash, entries[i].sequence, entries[i].event);
  }
}

// What the server sends: entries ordered by their (possibly edited)
// sequence.
void SortBySequence(std::vector<AuditEntry>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const AuditEntry& a, const AuditEntry& b) { return a.sequence < b.sequence; });
}

TEST(AuditHashTest, MatchesIndependentComputation) {
  // Expected from Python's hashlib over "tessera audit v1", then each of
  // previous hash, sequence, time (ms) and the five fields, strings
  // preceded by their length as 8 bytes big-endian, integers as 8 bytes
  // big-endian.
  const AuditEvent event{absl::FromUnixMillis(1767225600123),
                         "alice",
                         "operator",
                         "site.enrolled",
                         "rfh",
                         "{\"serial\":\"1F\"}"};
  EXPECT_EQ(AuditHash(kAuditGenesisHash, 1, event),
            "d233410ffc7b1fbdf26bc35b3141559d5eca1e51ed7a50404a36b5af45807560");
}

TEST(AuditHeadMessageTest, IsContextSequenceAndHashBytes) {
  const std::string hash(64, 'a');
  ASSERT_OK_AND_ASSIGN(std::string message, AuditHeadMessage(258, hash));
  // The layout documented on tessera.v1.AuditHeadSignature.
  const std::string expected = std::string("tessera audit head v1\0", 22) +
                               std::string("\0\0\0\0\0\0\x01\x02", 8) + std::string(32, '\xaa');
  EXPECT_EQ(message, expected);
  EXPECT_THAT(AuditHeadMessage(0, hash), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditHeadMessage(1, std::string(64, 'A')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AuditHeadMessage(1, "abc"), StatusIs(absl::StatusCode::kInvalidArgument));
}

class VerifyAuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, TestPki::Create("federation-ca", TestKeyType::kEcdsaP256));
    ASSERT_OK_AND_ASSIGN(coordinator_,
                         pki_->Issue("coordinator", "coordinator", TestKeyType::kEcdsaP256));
    entries_ = Chain(6);
  }

  // Entry `sequence`'s head as entries_ has it now, signed by `who`.
  AuditHeadRecord Head(int64_t sequence, const TestIdentity& who) {
    return SignedHead(sequence, entries_[static_cast<size_t>(sequence - 1)].hash, who);
  }
  AuditHeadRecord SignedHead(int64_t sequence, const std::string& hash, const TestIdentity& who) {
    auto signer = crypto::PrivateKeySigner::FromPem(who.private_key_pem).value();
    const std::string message = AuditHeadMessage(sequence, hash).value();
    const std::vector<uint8_t> signature = signer->Sign(crypto::AsBytes(message)).value();
    return {sequence, hash, TestNow() + absl::Minutes(sequence),
            std::string(crypto::AsStringView(signature)), who.certificate_pem};
  }

  AuditLogReport Verify(const std::vector<AuditHeadRecord>& heads) {
    return VerifyAuditLog(entries_, heads, pki_->ca().certificate_pem).value();
  }

  std::unique_ptr<TestPki> pki_;
  TestIdentity coordinator_;
  std::vector<AuditEntry> entries_;
};

TEST_F(VerifyAuditLogTest, IntactLogVerifiesAndCountsEntriesAfterTheLatestHead) {
  const AuditHeadRecord two = Head(2, coordinator_);
  const AuditHeadRecord four = Head(4, coordinator_);
  AuditLogReport report = Verify({four, two});  // any order
  EXPECT_FALSE(report.problem.has_value()) << report.problem->description;
  EXPECT_EQ(report.entries, 6);
  EXPECT_EQ(report.head_hash, entries_[5].hash);
  EXPECT_EQ(report.signed_heads, 2);
  ASSERT_TRUE(report.latest_head.has_value());
  EXPECT_EQ(report.latest_head->sequence, 4);
  EXPECT_EQ(report.latest_head->signed_at, four.signed_at);
  EXPECT_EQ(report.latest_head_signer, "coordinator");
  EXPECT_EQ(report.unsigned_entries, 2);
}

TEST_F(VerifyAuditLogTest, EmptyLogVerifies) {
  entries_.clear();
  AuditLogReport report = Verify({});
  EXPECT_FALSE(report.problem.has_value());
  EXPECT_EQ(report.entries, 0);
  EXPECT_EQ(report.head_hash, kAuditGenesisHash);
  EXPECT_EQ(report.unsigned_entries, 0);
}

TEST_F(VerifyAuditLogTest, AlteredDetailsAreNamed) {
  entries_[2].event.details = "{\"n\":99}";
  AuditLogReport report = Verify({Head(6, coordinator_)});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 3);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kAltered);
  EXPECT_THAT(report.problem->description, HasSubstr("entry 3 was altered"));
}

TEST_F(VerifyAuditLogTest, EveryFieldIsCovered) {
  for (int field = 0; field < 7; ++field) {
    entries_ = Chain(4);
    AuditEntry& entry = entries_[1];
    switch (field) {
      case 0:
        entry.event.time += absl::Milliseconds(1);
        break;
      case 1:
        entry.event.actor += "x";
        break;
      case 2:
        entry.event.actor_role = "governance";
        break;
      case 3:
        entry.event.action = "job.approved";
        break;
      case 4:
        entry.event.subject += "x";
        break;
      case 5:
        entry.event.details += " ";
        break;
      case 6:
        entry.hash[0] = entry.hash[0] == 'a' ? 'b' : 'a';
        break;
    }
    AuditLogReport report = Verify({});
    ASSERT_TRUE(report.problem.has_value()) << field;
    EXPECT_EQ(report.problem->sequence, 2) << field;
  }
}

TEST_F(VerifyAuditLogTest, DeletedEntryIsNamed) {
  entries_.erase(entries_.begin() + 2);  // entry 3
  AuditLogReport report = Verify({});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 3);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kDeleted);
  EXPECT_THAT(report.problem->description, HasSubstr("entry 3 is missing"));
}

TEST_F(VerifyAuditLogTest, DeletedEntriesWithTheRestRenumberedAreNamed) {
  entries_.erase(entries_.begin() + 2, entries_.begin() + 4);  // entries 3 and 4
  for (size_t i = 2; i < entries_.size(); ++i) entries_[i].sequence -= 2;
  AuditLogReport report = Verify({});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 3);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kDeleted);
  EXPECT_THAT(report.problem->description, HasSubstr("entries 3 to 4 were deleted"));
  EXPECT_THAT(report.problem->description, HasSubstr("written as entry 5"));
}

TEST_F(VerifyAuditLogTest, EntriesDeletedFromTheEndAreCaughtBySignedHead) {
  const AuditHeadRecord six = Head(6, coordinator_);
  entries_.resize(4);
  AuditLogReport report = Verify({Head(2, coordinator_), six});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 5);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kDeleted);
  EXPECT_THAT(report.problem->description, HasSubstr("entries 5 to 6"));
  EXPECT_THAT(report.problem->description, HasSubstr("ends at entry 4"));
}

TEST_F(VerifyAuditLogTest, SwappedEntriesAreNamedAsReordered) {
  std::swap(entries_[2].sequence, entries_[4].sequence);  // entries 3 and 5
  SortBySequence(entries_);
  AuditLogReport report = Verify({});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 3);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kReordered);
  EXPECT_THAT(report.problem->description, HasSubstr("sequence 3 was written as entry 5"));
}

TEST_F(VerifyAuditLogTest, AdjacentSwapIsNamedAsReordered) {
  std::swap(entries_[0].sequence, entries_[1].sequence);
  SortBySequence(entries_);
  AuditLogReport report = Verify({});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 1);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kReordered);
}

TEST_F(VerifyAuditLogTest, EntryReplacedAndRehashedIsNamed) {
  entries_[1].event.subject = "someone-else";
  entries_[1].hash = AuditHash(entries_[1].previous_hash, 2, entries_[1].event);
  AuditLogReport report = Verify({});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 2);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kAltered);
  EXPECT_THAT(report.problem->description, HasSubstr("entry 2 was replaced"));
}

TEST_F(VerifyAuditLogTest, RewrittenChainIsCaughtBetweenSignedHeads) {
  const AuditHeadRecord two = Head(2, coordinator_);
  const AuditHeadRecord five = Head(5, coordinator_);
  // Entry 4 altered and every hash from it on recomputed: the chain alone
  // holds, the head signed at 5 does not.
  entries_[3].event.details = "{\"n\":0}";
  Rehash(entries_, 3);
  EXPECT_FALSE(Verify({}).problem.has_value());
  AuditLogReport report = Verify({two, five});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 3);  // after the last head that holds
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kAltered);
  EXPECT_THAT(report.problem->description, HasSubstr("from 3 to 5"));
}

TEST_F(VerifyAuditLogTest, ForgedHeadSignatureIsRefused) {
  AuditHeadRecord head = Head(4, coordinator_);
  for (size_t i = 0; i < head.signature.size(); i += 7) {
    AuditHeadRecord forged = head;
    forged.signature[i] = static_cast<char>(forged.signature[i] ^ 0x01);
    AuditLogReport report = Verify({forged});
    ASSERT_TRUE(report.problem.has_value()) << i;
    EXPECT_EQ(report.problem->kind, AuditProblemKind::kBadHead) << i;
    EXPECT_EQ(report.problem->sequence, 4);
  }
  // A genuine signature moved to another entry does not verify either.
  AuditHeadRecord moved = head;
  moved.sequence = 5;
  moved.hash = entries_[4].hash;
  AuditLogReport report = Verify({moved});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kBadHead);
  EXPECT_THAT(report.problem->description, HasSubstr("does not verify"));
}

TEST_F(VerifyAuditLogTest, HeadSignedByANonCoordinatorCertificateIsRefused) {
  ASSERT_OK_AND_ASSIGN(TestIdentity site, pki_->Issue("rfh", "site", TestKeyType::kEcdsaP256));
  AuditLogReport report = Verify({Head(4, site)});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kBadHead);
  EXPECT_THAT(report.problem->description, HasSubstr("not a coordinator certificate"));
}

TEST_F(VerifyAuditLogTest, HeadSignedByACoordinatorOfAnotherCaIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto other, TestPki::Create("other-ca", TestKeyType::kEcdsaP256));
  ASSERT_OK_AND_ASSIGN(TestIdentity impostor,
                       other->Issue("coordinator", "coordinator", TestKeyType::kEd25519));
  AuditLogReport report = Verify({Head(2, coordinator_), Head(4, impostor)});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 4);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kBadHead);
  EXPECT_THAT(report.problem->description, HasSubstr("not one of this federation's CA"));
}

TEST_F(VerifyAuditLogTest, HeadSignedOutsideItsCertificatesValidityIsRefused) {
  ASSERT_OK_AND_ASSIGN(TestIdentity expired,
                       pki_->Issue("coordinator", "coordinator", TestKeyType::kEcdsaP256,
                                   crypto::testing::TestNotBefore(), TestNow()));
  AuditLogReport report = Verify({Head(4, expired)});  // signed after TestNow()
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kBadHead);
}

TEST_F(VerifyAuditLogTest, EntryProblemsComeBeforeHeadProblems) {
  ASSERT_OK_AND_ASSIGN(TestIdentity site, pki_->Issue("rfh", "site", TestKeyType::kEcdsaP256));
  const AuditHeadRecord bad = Head(1, site);
  entries_[4].event.actor = "mallory";
  AuditLogReport report = Verify({bad});
  ASSERT_TRUE(report.problem.has_value());
  EXPECT_EQ(report.problem->sequence, 5);
  EXPECT_EQ(report.problem->kind, AuditProblemKind::kAltered);
}

TEST_F(VerifyAuditLogTest, CaThatDoesNotParseIsAnError) {
  EXPECT_THAT(VerifyAuditLog(entries_, {}, "not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CheckAuditLinkTest, ClassifiesOneLink) {
  std::vector<AuditEntry> entries = Chain(3);
  EXPECT_FALSE(CheckAuditLink(entries[0].hash, 2, entries[1]).has_value());
  auto gap = CheckAuditLink(entries[0].hash, 2, entries[2]);
  ASSERT_TRUE(gap.has_value());
  EXPECT_EQ(gap->sequence, 2);
  EXPECT_EQ(gap->kind, AuditProblemKind::kDeleted);
  auto unlinked = CheckAuditLink(kAuditGenesisHash, 2, entries[1]);
  ASSERT_TRUE(unlinked.has_value());
  EXPECT_THAT(unlinked->description, HasSubstr("does not follow"));
  entries[1].event.details = "{}";
  auto altered = CheckAuditLink(entries[0].hash, 2, entries[1]);
  ASSERT_TRUE(altered.has_value());
  EXPECT_EQ(altered->kind, AuditProblemKind::kAltered);
}

}  // namespace
}  // namespace tessera::coordinator
