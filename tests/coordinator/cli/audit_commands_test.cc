// What `tessera audit verify` and `tessera audit export` print, from given
// values: --since times, RFC 4180 quoting, the JSON-lines and CSV rows, and
// the verification report for people and for scripts.
#include "coordinator/cli/audit_commands.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::cli {
namespace {

using coordinator::AuditLogReport;
using coordinator::AuditProblem;
using coordinator::AuditProblemKind;
using tessera::testing::IsOkAndHolds;
using tessera::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

tessera::v1::AuditEntryProto Entry() {
  tessera::v1::AuditEntryProto entry;
  entry.set_sequence(7);
  entry.set_time_unix_ms(1772357400123);  // 2026-03-01T09:30:00.123Z
  entry.set_actor("bob");
  entry.set_actor_role("governance");
  entry.set_action("job.rejected");
  entry.set_subject("job-1");
  entry.set_details_json(R"({"reason":"too few sites, \"3\"\nplease"})");
  entry.set_previous_hash(std::string(64, 'a'));
  entry.set_hash(std::string(64, 'b'));
  return entry;
}

TEST(ParseAuditTimeTest, AcceptsDatesAndRfc3339) {
  // Unix times from `date -u -d ... +%s`.
  EXPECT_THAT(ParseAuditTime("2026-03-01"), IsOkAndHolds(absl::FromUnixSeconds(1772323200)));
  EXPECT_THAT(ParseAuditTime("2026-03-01T09:30:00Z"),
              IsOkAndHolds(absl::FromUnixSeconds(1772357400)));
  EXPECT_THAT(ParseAuditTime("2026-03-01T10:30:00+01:00"),
              IsOkAndHolds(absl::FromUnixSeconds(1772357400)));
  EXPECT_THAT(ParseAuditTime("2026-03-01T09:30:00.5Z"),
              IsOkAndHolds(absl::FromUnixMillis(1772357400500)));
  for (const char* bad :
       {"", "yesterday", "2026-13-01", "01/03/2026", "2026-03-01T09:30:00", "2026-03-01 09:30"}) {
    EXPECT_THAT(ParseAuditTime(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RFC 3339")))
        << bad;
  }
}

TEST(CsvFieldTest, QuotesOnlyWhatRfc4180Requires) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
}

TEST(AuditExportTest, CsvHasAHeaderAndOneQuotedRowPerEntry) {
  EXPECT_EQ(AuditExportHeader(AuditExportFormat::kCsv),
            "sequence,time,actor,actor_role,action,subject,details,previous_hash,hash\r\n");
  EXPECT_EQ(AuditExportLine(Entry(), AuditExportFormat::kCsv),
            "7,2026-03-01T09:30:00.123Z,bob,governance,job.rejected,job-1,"
            "\"{\"\"reason\"\":\"\"too few sites, \\\"\"3\\\"\"\\nplease\"\"}\"," +
                std::string(64, 'a') + "," + std::string(64, 'b') + "\r\n");
}

TEST(AuditExportTest, JsonLinesKeepTheDetailsTextAsHashed) {
  EXPECT_EQ(AuditExportHeader(AuditExportFormat::kJsonl), "");
  const std::string line = AuditExportLine(Entry(), AuditExportFormat::kJsonl);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line, whatever the details hold
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["sequence"], 7);
  EXPECT_EQ(parsed["time"], "2026-03-01T09:30:00.123Z");
  EXPECT_EQ(parsed["actor"], "bob");
  EXPECT_EQ(parsed["actor_role"], "governance");
  EXPECT_EQ(parsed["action"], "job.rejected");
  EXPECT_EQ(parsed["subject"], "job-1");
  EXPECT_EQ(parsed["details"], Entry().details_json());
  EXPECT_EQ(parsed["previous_hash"], std::string(64, 'a'));
  EXPECT_EQ(parsed["hash"], std::string(64, 'b'));
}

TEST(AuditExportTest, FormatNamesAreChecked) {
  EXPECT_THAT(ParseAuditExportFormat("jsonl"), IsOkAndHolds(AuditExportFormat::kJsonl));
  EXPECT_THAT(ParseAuditExportFormat("csv"), IsOkAndHolds(AuditExportFormat::kCsv));
  EXPECT_THAT(ParseAuditExportFormat("xml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jsonl or csv")));
}

TEST(AuditEntryFromProtoTest, CarriesEveryHashedField) {
  const coordinator::AuditEntry entry = AuditEntryFromProto(Entry());
  EXPECT_EQ(entry.sequence, 7);
  EXPECT_EQ(entry.event.time, absl::FromUnixMillis(1772357400123));
  EXPECT_EQ(entry.event.details, Entry().details_json());
  EXPECT_EQ(coordinator::AuditHash(entry.previous_hash, entry.sequence, entry.event),
            coordinator::AuditHash(std::string(64, 'a'), 7,
                                   {absl::FromUnixMillis(1772357400123), "bob", "governance",
                                    "job.rejected", "job-1", Entry().details_json()}));
}

AuditLogReport GoodReport() {
  AuditLogReport report;
  report.entries = 12;
  report.head_hash = std::string(64, 'c');
  report.signed_heads = 3;
  report.latest_head = coordinator::AuditHeadRecord{
      10, std::string(64, 'd'), absl::FromUnixSeconds(1772357400), "sig", "pem"};
  report.latest_head_signer = "coordinator";
  report.unsigned_entries = 2;
  return report;
}

TEST(AuditReportTest, VerifiedLogShowsHeadLatestSignatureAndUnsignedEntries) {
  const AuditLogReport report = GoodReport();
  const std::string text = FormatAuditReport(report);
  EXPECT_THAT(text, HasSubstr("audit log verified: 12 entries"));
  EXPECT_THAT(text, HasSubstr(std::string(64, 'c')));
  EXPECT_THAT(text, HasSubstr("entry 10, signed 2026-03-01 09:30:00 UTC by coordinator "
                              "`coordinator` (3 signed heads verified)"));
  EXPECT_THAT(text, HasSubstr("2 entries after the latest signed head"));
  EXPECT_OK(AuditReportOutcome(report));

  const nlohmann::json json = AuditReportJson(report);
  EXPECT_EQ(json["verified"], true);
  EXPECT_EQ(json["entries"], 12);
  EXPECT_EQ(json["head_hash"], std::string(64, 'c'));
  EXPECT_EQ(json["signed_heads"], 3);
  EXPECT_EQ(json["latest_signed_head"]["sequence"], 10);
  EXPECT_EQ(json["latest_signed_head"]["signed_at"], "2026-03-01T09:30:00.000Z");
  EXPECT_EQ(json["latest_signed_head"]["coordinator"], "coordinator");
  EXPECT_EQ(json["unsigned_entries"], 2);
  EXPECT_TRUE(json["problem"].is_null());
}

TEST(AuditReportTest, LogWithoutSignedHeadsSaysSo) {
  AuditLogReport report;
  report.entries = 2;
  report.head_hash = std::string(64, 'c');
  report.unsigned_entries = 2;
  const std::string text = FormatAuditReport(report);
  EXPECT_THAT(text, HasSubstr("no head has been signed yet"));
  EXPECT_THAT(text, HasSubstr("2 entries (the coordinator signs"));
  EXPECT_TRUE(AuditReportJson(report)["latest_signed_head"].is_null());
}

TEST(AuditReportTest, FailedVerificationNamesTheEntryAndExitsOne) {
  AuditLogReport report = GoodReport();
  report.problem = AuditProblem{5, AuditProblemKind::kReordered,
                                "entries were re-ordered: the entry at sequence 5 was written as "
                                "entry 8"};
  const std::string text = FormatAuditReport(report);
  EXPECT_THAT(text, HasSubstr("does NOT verify: entries were re-ordered"));
  EXPECT_THAT(text, HasSubstr("first bad entry  5 (re-ordered)"));
  EXPECT_THAT(text, Not(HasSubstr("verified:")));
  EXPECT_THAT(AuditReportOutcome(report),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("at entry 5 (re-ordered)")));
  const nlohmann::json json = AuditReportJson(report);
  EXPECT_EQ(json["verified"], false);
  EXPECT_EQ(json["problem"]["sequence"], 5);
  EXPECT_EQ(json["problem"]["kind"], "re-ordered");
}

}  // namespace
}  // namespace tessera::cli
