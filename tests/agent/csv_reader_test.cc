#include "agent/data/csv_reader.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/data_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent::data {
namespace {

using ::tessera::agent::data::testing::ReadAll;
using ::tessera::agent::data::testing::WriteFile;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CsvReaderTest : public ::testing::Test {
 protected:
  // Writes `content` to a file and opens it as dataset "visits".
  absl::StatusOr<std::unique_ptr<CsvReader>> Open(const std::string& content,
                                                  CsvOptions options = {}) {
    WriteFile(path_, content);
    return CsvReader::Open("visits", path_, options);
  }

  // Opens `content` and reads every record.
  std::vector<Record> ReadRecords(const std::string& content, CsvOptions options = {}) {
    auto reader = Open(content, options);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return {};
    auto records = ReadAll(**reader);
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<Record>{};
  }

  TempDir dir_;
  const std::string path_ = dir_.File("visits.csv");
};

TEST_F(CsvReaderTest, ReadsTheQuotingExamplesOfRfc4180) {
  // RFC 4180 section 2, rules 5-7: quoted fields, a line break inside quotes,
  // and a doubled quote standing for one.
  std::vector<Record> records = ReadRecords(
      "a,b,c\r\n"
      "\"aaa\",\"bbb\",\"ccc\"\r\n"
      "\"aaa\",\"b\r\nbb\",\"ccc\"\r\n"
      "\"aaa\",\"b\"\"bb\",\"ccc\"\r\n"
      "zzz,yyy,xxx");  // rule 2: the last record may lack a line break
  ASSERT_EQ(records.size(), 4u);
  EXPECT_THAT(records[0].values, ElementsAre("aaa", "bbb", "ccc"));
  EXPECT_THAT(records[1].values, ElementsAre("aaa", "b\r\nbb", "ccc"));
  EXPECT_THAT(records[2].values, ElementsAre("aaa", "b\"bb", "ccc"));
  EXPECT_THAT(records[3].values, ElementsAre("zzz", "yyy", "xxx"));
  // Physical line where each record starts: the embedded CRLF moves the rest.
  EXPECT_EQ(records[0].line, 2);
  EXPECT_EQ(records[1].line, 3);
  EXPECT_EQ(records[2].line, 5);
  EXPECT_EQ(records[3].line, 6);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(records[i].defect, RecordDefect::kNone);
  }
}

TEST_F(CsvReaderTest, KeepsEmbeddedCommasAndMarksEmptyFieldsMissing) {
  std::vector<Record> records = ReadRecords("id,address,note\n1,\"12 High St, Leeds\",\n2,,\"\"\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_THAT(records[0].values, ElementsAre("1", "12 High St, Leeds", ""));
  EXPECT_THAT(records[0].cells,
              ElementsAre(CellState::kValue, CellState::kValue, CellState::kMissing));
  EXPECT_THAT(records[1].cells,
              ElementsAre(CellState::kValue, CellState::kMissing, CellState::kMissing));
}

TEST_F(CsvReaderTest, AcceptsLfCrlfAndLoneCrLineEndingsAlike) {
  for (const std::string eol : {"\n", "\r\n", "\r"}) {
    std::vector<Record> records =
        ReadRecords(absl::StrCat("x,y", eol, "1,2", eol, "\"3", eol, "4\",5", eol, "6,7", eol));
    ASSERT_EQ(records.size(), 3u) << "eol " << static_cast<int>(eol.back());
    EXPECT_THAT(records[0].values, ElementsAre("1", "2"));
    EXPECT_THAT(records[1].values, ElementsAre(absl::StrCat("3", eol, "4"), "5"));
    EXPECT_THAT(records[2].values, ElementsAre("6", "7"));
    EXPECT_EQ(records[2].line, 5);
  }
}

TEST_F(CsvReaderTest, StripsAUtf8ByteOrderMark) {
  ASSERT_OK_AND_ASSIGN(auto reader, Open("\xEF\xBB\xBFid,age\n1,40\n"));
  EXPECT_THAT(reader->columns(), ElementsAre("id", "age"));
  ASSERT_OK_AND_ASSIGN(auto quoted, Open("\xEF\xBB\xBF\"id\",age\n1,40\n"));
  EXPECT_THAT(quoted->columns(), ElementsAre("id", "age"));
  // Without a BOM the same bytes elsewhere are ordinary text.
  ASSERT_OK_AND_ASSIGN(auto plain, Open("id,age\n\xEF\xBB\xBF" "1,40\n"));
  ASSERT_OK_AND_ASSIGN(std::vector<Record> records, ReadAll(*plain));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].values[0], "\xEF\xBB\xBF" "1");
}

TEST_F(CsvReaderTest, SkipsBlankLinesButCountsThem) {
  std::vector<Record> records = ReadRecords("\n\nid,age\n\n1,40\r\n\r\n\r\n2,50\n\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 5);
  EXPECT_EQ(records[1].line, 8);
  EXPECT_EQ(records[1].index, 1);
}

TEST_F(CsvReaderTest, TrimsHeaderNames) {
  ASSERT_OK_AND_ASSIGN(auto reader, Open(" id , age\t\n1,2\n"));
  EXPECT_THAT(reader->columns(), ElementsAre("id", "age"));
}

TEST_F(CsvReaderTest, RefusesAnEmptyFile) {
  for (const std::string& content : {std::string(), std::string("\xEF\xBB\xBF"),
                                     std::string("\r\n\n")}) {
    EXPECT_THAT(Open(content),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("dataset `visits`: `", path_,
                                      "` is empty; expected a header row naming the columns")));
  }
}

TEST_F(CsvReaderTest, RefusesDuplicateAndEmptyColumnNames) {
  EXPECT_THAT(Open("id,age,sex,age\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("dataset `visits`: `", path_,
                                    "` line 1: header columns 2 and 4 have the same name")));
  EXPECT_THAT(Open("id,,sex\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: header column 2 has an empty name")));
  EXPECT_THAT(Open("id, \"\" ,sex\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Open("id,\"a\"b\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad quoting in header column 2")));
  EXPECT_THAT(Open("id,caf\xE9\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("header column 2 is not valid UTF-8")));
}

TEST_F(CsvReaderTest, RefusesAHeaderWithTooManyColumns) {
  std::string header;
  for (int i = 0; i < 70000; ++i) absl::StrAppend(&header, "c", i, ",");
  EXPECT_THAT(Open(header + "last\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dataset `visits`: the header has more than 65536 columns"));
}

TEST_F(CsvReaderTest, FlagsBadQuotingAndReadsOn) {
  std::vector<Record> records = ReadRecords(
      "id,name,age\n"
      "1,ab\"c,40\n"       // a quote inside an unquoted field
      "2,\"ab\"c,50\n"     // text after the closing quote
      "3,ok,60\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].defect, RecordDefect::kBadQuoting);
  EXPECT_EQ(records[0].defect_detail, 1u);
  EXPECT_EQ(records[0].line, 2);
  EXPECT_EQ(records[1].defect, RecordDefect::kBadQuoting);
  EXPECT_EQ(records[1].defect_detail, 1u);
  EXPECT_EQ(records[2].defect, RecordDefect::kNone);
  EXPECT_THAT(records[2].values, ElementsAre("3", "ok", "60"));
  EXPECT_EQ(records[2].line, 4);
}

TEST_F(CsvReaderTest, FlagsRecordsWithTheWrongNumberOfFields) {
  std::vector<Record> records = ReadRecords("id,name,age\n1,a\n2,b,30,extra,more\n3,c,40\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].defect, RecordDefect::kWrongFieldCount);
  EXPECT_EQ(records[0].defect_detail, 2u);
  EXPECT_EQ(records[1].defect, RecordDefect::kWrongFieldCount);
  EXPECT_EQ(records[1].defect_detail, 5u);
  EXPECT_EQ(records[1].values.size(), 3u);  // the extra fields are not kept
  EXPECT_EQ(records[2].defect, RecordDefect::kNone);
  EXPECT_THAT(records[2].values, ElementsAre("3", "c", "40"));
}

TEST_F(CsvReaderTest, MarksCellsThatAreNotUtf8) {
  std::vector<Record> records = ReadRecords("id,town\n1,caf\xE9\n2,caf\xC3\xA9\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].cells[1], CellState::kInvalidUtf8);
  EXPECT_EQ(records[0].values[1], "");  // the bytes are not kept
  EXPECT_EQ(records[0].cells[0], CellState::kValue);
  EXPECT_EQ(records[1].cells[1], CellState::kValue);
  EXPECT_EQ(records[1].values[1], "caf\xC3\xA9");
}

TEST_F(CsvReaderTest, FailsOnAQuoteLeftOpenAtTheEndOfTheFile) {
  ASSERT_OK_AND_ASSIGN(auto reader, Open("id,note,age\n1,x,2\n2,\"never closed,3\n4,y,5\n"));
  Record record;
  ASSERT_THAT(reader->Next(&record), ::tessera::testing::IsOkAndHolds(true));
  EXPECT_THAT(reader->Next(&record),
              StatusIs(absl::StatusCode::kDataLoss,
                       absl::StrCat("dataset `visits`: line 3: a quoted field in column `note` "
                                    "is not closed before the end of `",
                                    path_, "`; the file is truncated or a quote is missing")));
}

TEST_F(CsvReaderTest, StopsAtARecordLongerThanTheLimit) {
  CsvOptions options;
  options.block_size = 64;
  options.max_record_bytes = 1000;
  ASSERT_OK_AND_ASSIGN(auto reader,
                       Open(absl::StrCat("id,note\n1,\"", std::string(5000, 'x'), "\"\n"), options));
  Record record;
  EXPECT_THAT(reader->Next(&record),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("the record starting at line 2 is longer than 1000 bytes")));
}

TEST_F(CsvReaderTest, GivesTheSameRecordsWhateverTheBlockSize) {
  // Every construct of the format, repeated so that block edges fall inside
  // quotes, between CR and LF, on a doubled quote and in a multi-byte
  // character.
  std::string content = "\xEF\xBB\xBFid,text,n\r\n";
  for (int i = 0; i < 50; ++i) {
    absl::StrAppend(&content, i, ",\"a \"\"q\"\", b\r\nc\",", i * 7, "\r\n", i,
                    ",caf\xC3\xA9 \xE6\x97\xA5,\n\r\n", i, ",x\"y,1\r", i, ",\"\",2\n");
  }
  std::vector<Record> reference = ReadRecords(content, CsvOptions{1 << 20, 1 << 20});
  ASSERT_EQ(reference.size(), 200u);
  for (size_t block : {64u, 65u, 67u, 100u, 127u, 1000u}) {
    std::vector<Record> records = ReadRecords(content, CsvOptions{block, 1 << 20});
    ASSERT_EQ(records.size(), reference.size()) << "block " << block;
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].values, reference[i].values) << "block " << block << " record " << i;
      EXPECT_EQ(records[i].cells, reference[i].cells) << "block " << block << " record " << i;
      EXPECT_EQ(records[i].line, reference[i].line) << "block " << block << " record " << i;
      EXPECT_EQ(records[i].defect, reference[i].defect) << "block " << block << " record " << i;
    }
  }
  EXPECT_EQ(reference[0].values[1], "a \"q\", b\r\nc");
  EXPECT_EQ(reference[3].cells[1], CellState::kMissing);
  EXPECT_EQ(reference[2].defect, RecordDefect::kBadQuoting);
  EXPECT_EQ(reference[4].line, 8);
}

TEST_F(CsvReaderTest, MalformedInputGivesTheSameOutcomeWhateverTheBlockSize) {
  // Random files over the characters that matter to the format (fixed seed:
  // the same 200 files every run). Whatever they hold, reading in 64-byte
  // blocks and in one block must agree: same records, or the same error.
  std::mt19937 random(4180);
  const std::string alphabet = std::string(",\"\r\nab \xC3\xA9\xFF", 11);
  for (int file = 0; file < 200; ++file) {
    std::string content = "h1,h2,h3\n";
    const size_t length = random() % 400;
    for (size_t i = 0; i < length; ++i) content += alphabet[random() % alphabet.size()];
    WriteFile(path_, content);
    auto outcome = [&](size_t block) {
      std::string result;
      auto reader = CsvReader::Open("visits", path_, CsvOptions{block, 1 << 20});
      if (!reader.ok()) return absl::StrCat("open: ", reader.status().ToString());
      Record record;
      for (;;) {
        absl::StatusOr<bool> more = (*reader)->Next(&record);
        if (!more.ok()) return absl::StrCat(result, "error: ", more.status().ToString());
        if (!*more) return result;
        absl::StrAppend(&result, record.line, ":", static_cast<int>(record.defect), ":",
                        record.defect_detail, ":");
        for (size_t c = 0; c < record.values.size(); ++c) {
          absl::StrAppend(&result, static_cast<int>(record.cells[c]), "[", record.values[c], "]");
        }
        result += "\n";
      }
    };
    ASSERT_EQ(outcome(64), outcome(1 << 20)) << "file " << file;
  }
}

TEST_F(CsvReaderTest, StreamsALargeFileInBoundedMemory) {
  // About 4 MB of records of varying length; the reader may hold one block
  // and the record it is assembling, never the file.
  std::string content = "id,age,sex,notes\n";
  size_t longest = 0;
  int64_t expected_records = 0;
  while (content.size() < (4u << 20)) {
    const int64_t i = expected_records++;
    std::string record = absl::StrCat(i, ",", 20 + i % 70, ",", i % 2 == 0 ? "female" : "male",
                                      ",\"", std::string(static_cast<size_t>(i % 997), 'n'),
                                      "\"\n");
    longest = std::max(longest, record.size());
    content += record;
  }
  CsvOptions options;
  options.block_size = 64 * 1024;
  ASSERT_OK_AND_ASSIGN(auto reader, Open(content, options));
  Record record;
  int64_t count = 0;
  int64_t age_sum = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(bool more, reader->Next(&record));
    if (!more) break;
    ASSERT_EQ(record.index, count);
    age_sum += std::stoll(record.values[1]);
    ++count;
  }
  EXPECT_EQ(count, expected_records);
  int64_t expected_age_sum = 0;
  for (int64_t i = 0; i < expected_records; ++i) expected_age_sum += 20 + i % 70;
  EXPECT_EQ(age_sum, expected_age_sum);
  EXPECT_LE(reader->peak_held_bytes(), options.block_size + longest);
  EXPECT_GE(reader->peak_held_bytes(), options.block_size);
  EXPECT_LT(reader->peak_held_bytes(), content.size() / 32);
}

TEST_F(CsvReaderTest, ReportsAMissingFileAndADirectory) {
  EXPECT_THAT(CsvReader::Open("visits", dir_.File("nope.csv")),
              StatusIs(absl::StatusCode::kNotFound,
                       absl::StrCat("dataset `visits`: file `", dir_.File("nope.csv"),
                                    "` does not exist; check `path` in agent.toml")));
  EXPECT_THAT(CsvReader::Open("visits", dir_.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is a directory")));
}

}  // namespace
}  // namespace tessera::agent::data
