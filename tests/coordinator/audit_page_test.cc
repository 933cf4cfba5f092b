// Admin.ReadAudit's pages (ReadAuditPage) on a real SQLite store: paging
// through a log longer than one page, the signed heads each page carries
// (and a head beyond a log cut short on the last one), the time filter,
// the limits, and pages cut by size below gRPC's default 4 MiB.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/services.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

using tessera::testing::StatusIs;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

class ReadAuditPageTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(store_, Store::Open(":memory:")); }

  void Append(int count, size_t details_bytes = 2) {
    for (int i = 0; i < count; ++i) {
      ++appended_;
      std::string details = "{}";
      if (details_bytes > 2) details = "{\"x\":\"" + std::string(details_bytes - 8, 'x') + "\"}";
      ASSERT_OK(store_
                    ->AppendAudit({kStart + absl::Seconds(appended_), "alice", "operator",
                                   "site.enrolled", absl::StrCat("site-", appended_), details})
                    .status());
    }
  }

  // The store does not check signatures: any bytes do for paging.
  void RecordHead(int64_t sequence) {
    std::vector<AuditEntry> entry = store_->ReadAudit(sequence - 1, 1).value();
    ASSERT_OK(
        store_->RecordAuditHead({sequence, entry.at(0).hash, kStart, "signature", "certificate"}));
  }

  tessera::v1::ReadAuditResponse Page(int64_t after, uint32_t limit = 0, int64_t since_ms = 0) {
    tessera::v1::ReadAuditRequest request;
    request.set_after_sequence(after);
    request.set_limit(limit);
    request.set_since_unix_ms(since_ms);
    return ReadAuditPage(*store_, request).value();
  }

  static std::vector<int64_t> HeadSequences(const tessera::v1::ReadAuditResponse& page) {
    std::vector<int64_t> sequences;
    for (const auto& head : page.head_signatures()) sequences.push_back(head.sequence());
    return sequences;
  }

  std::unique_ptr<Store> store_;
  int appended_ = 0;
};

TEST_F(ReadAuditPageTest, PagesThroughTheLogWithTheHeadsOfEachPage) {
  Append(2500);
  for (int64_t sequence : {500, 1500, 2500}) RecordHead(sequence);

  tessera::v1::ReadAuditResponse first = Page(0);
  ASSERT_EQ(first.entries_size(), static_cast<int>(kMaxAuditPage));
  EXPECT_EQ(first.entries(0).sequence(), 1);
  EXPECT_EQ(first.entries(999).sequence(), 1000);
  EXPECT_TRUE(first.more());
  EXPECT_EQ(HeadSequences(first), std::vector<int64_t>{500});
  // Every field of the entry, as stored.
  const AuditEntry stored = store_->ReadAudit(0, 1).value().at(0);
  EXPECT_EQ(first.entries(0).time_unix_ms(), absl::ToUnixMillis(stored.event.time));
  EXPECT_EQ(first.entries(0).subject(), stored.event.subject);
  EXPECT_EQ(first.entries(0).details_json(), stored.event.details);
  EXPECT_EQ(first.entries(0).previous_hash(), stored.previous_hash);
  EXPECT_EQ(first.entries(0).hash(), stored.hash);

  tessera::v1::ReadAuditResponse second = Page(1000);
  EXPECT_EQ(second.entries(0).sequence(), 1001);
  EXPECT_TRUE(second.more());
  EXPECT_EQ(HeadSequences(second), std::vector<int64_t>{1500});

  tessera::v1::ReadAuditResponse last = Page(2000);
  EXPECT_EQ(last.entries_size(), 500);
  EXPECT_FALSE(last.more());
  EXPECT_EQ(HeadSequences(last), std::vector<int64_t>{2500});
  EXPECT_EQ(last.head_signatures(0).signature(), "signature");
}

TEST_F(ReadAuditPageTest, LastPageCarriesHeadsBeyondALogCutShort) {
  Append(20);
  RecordHead(10);
  RecordHead(20);
  ASSERT_OK(store_->database().Exec("DELETE FROM audit_log WHERE sequence > 15"));
  tessera::v1::ReadAuditResponse page = Page(0);
  EXPECT_EQ(page.entries_size(), 15);
  EXPECT_FALSE(page.more());
  EXPECT_EQ(HeadSequences(page), (std::vector<int64_t>{10, 20}));
}

TEST_F(ReadAuditPageTest, LimitsAndTimeFilter) {
  Append(30);
  tessera::v1::ReadAuditResponse ten = Page(0, 10);
  EXPECT_EQ(ten.entries_size(), 10);
  EXPECT_TRUE(ten.more());
  EXPECT_EQ(Page(0, 100000).entries_size(), 30);  // clamped, then all there is

  // Entry n was written at kStart + n seconds.
  const int64_t since = absl::ToUnixMillis(kStart + absl::Seconds(25));
  tessera::v1::ReadAuditResponse recent = Page(0, 0, since);
  ASSERT_EQ(recent.entries_size(), 6);
  EXPECT_EQ(recent.entries(0).sequence(), 25);
  EXPECT_FALSE(recent.more());
  tessera::v1::ReadAuditResponse paged = Page(0, 4, since);
  EXPECT_EQ(paged.entries_size(), 4);
  EXPECT_TRUE(paged.more());
  EXPECT_EQ(Page(28, 4, since).entries(0).sequence(), 29);
}

TEST_F(ReadAuditPageTest, PagesAreCutBySize) {
  Append(60, 100 * 1024);
  tessera::v1::ReadAuditResponse page = Page(0);
  EXPECT_GT(page.entries_size(), 0);
  EXPECT_LT(page.entries_size(), 60);
  EXPECT_TRUE(page.more());
  EXPECT_LT(page.ByteSizeLong(), size_t{4} << 20);
  // One entry larger than a page still comes, alone.
  Append(1, 3 << 20);
  tessera::v1::ReadAuditResponse big = Page(60);
  EXPECT_EQ(big.entries_size(), 1);
  EXPECT_FALSE(big.more());
}

TEST_F(ReadAuditPageTest, NegativeStartIsRefused) {
  tessera::v1::ReadAuditRequest request;
  request.set_after_sequence(-1);
  EXPECT_THAT(ReadAuditPage(*store_, request), StatusIs(absl::StatusCode::kInvalidArgument));
  request.set_after_sequence(0);
  request.set_since_unix_ms(-5);
  EXPECT_THAT(ReadAuditPage(*store_, request), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::coordinator
