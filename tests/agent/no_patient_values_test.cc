// Patient values must never reach an error message, a log line or the data
// report, which leaves the trust with the task result. Every bad cell below
// holds a unique sentinel; every message and report the data layer produces
// for it is collected and searched for the sentinels.
#include <sqlite3.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/data/csv_reader.h"
#include "agent/data/encoder.h"
#include "agent/data/row_checker.h"
#include "agent/data/sqlite_source.h"
#include "agent/data/statistics.h"
#include "gtest/gtest.h"
#include "tests/agent/data_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent::data {
namespace {

using ::tessera::agent::data::testing::WriteFile;
using ::tessera::testing::TempDir;

const std::vector<std::string>& Sentinels() {
  static const auto* sentinels = new std::vector<std::string>{
      "SENTINEL_NAN_1",   "987654321",        "SENTINEL_CAT_2",  "SENTINEL_BIN_3",
      "INEL_QUOTE_4",     "SENTINEL_EXTRA_5", "SENTINEL_UTF8_6", "SENTINEL_LABEL_7",
      "SENTINEL_OPEN_8",  "SENTINEL_LONG_9",  "SENTINEL_SQL_10", "SENTINEL_BLOB_11",
      "SENTINEL_JSON_12", "SENTINEL_NOTE_13", "24681357", "SENTINEL_HEAD_14",
      "SENTINEL_DUP_15"};
  return *sentinels;
}

Schema StudySchema(MissingPolicy policy) {
  Schema schema;
  ColumnSpec sex = CategoricalColumn("sex", {"female", "male"});
  ColumnSpec smoker = BinaryColumn("smoker");
  if (policy == MissingPolicy::kImpute) {
    sex.default_value = "female";
    smoker.default_value = "0";
  }
  schema.features = {NumericColumn("age", 0, 120), sex, smoker};
  schema.label = BinaryColumn("outcome");
  schema.missing_policy = policy;
  return schema;
}

class NoPatientValuesTest : public ::testing::Test {
 protected:
  void Collect(const absl::Status& status) { texts_.emplace_back(status.message()); }
  void Collect(const DataReport& report) {
    texts_.push_back(report.Summary());
    for (const RowIssue& issue : report.issues()) {
      texts_.push_back(absl::StrCat(issue.line, issue.column, ProblemName(issue.problem)));
    }
    for (const ProblemCount& count : report.problem_counts()) texts_.push_back(count.column);
  }

  void TearDown() override {
    ASSERT_FALSE(texts_.empty());
    for (const std::string& text : texts_) {
      for (const std::string& sentinel : Sentinels()) {
        EXPECT_FALSE(absl::StrContains(text, sentinel))
            << "a patient value (" << sentinel << ") reached: " << text;
      }
    }
  }

  TempDir dir_;
  std::vector<std::string> texts_;
};

TEST_F(NoPatientValuesTest, CsvRowProblemsAndReports) {
  WriteFile(dir_.File("study.csv"),
            "age,sex,smoker,outcome,notes\n"
            "SENTINEL_NAN_1,female,1,0,SENTINEL_NOTE_13\n"
            "987654321.5,female,1,0,x\n"
            "40,SENTINEL_CAT_2,1,0,x\n"
            "40,female,SENTINEL_BIN_3,0,x\n"
            "SENT\"INEL_QUOTE_4,female,1,0,x\n"
            "40,female,1,0,x,SENTINEL_EXTRA_5\n"
            "40,SENTINEL_UTF8_6\xFF,1,0,x\n"
            "40,female,1,SENTINEL_LABEL_7,x\n"
            "-24681357,male,0,1,x\n");
  for (MissingPolicy policy : {MissingPolicy::kSkipRow, MissingPolicy::kImpute}) {
    ASSERT_OK_AND_ASSIGN(auto reader, CsvReader::Open("study", dir_.File("study.csv")));
    ASSERT_OK_AND_ASSIGN(LocalStatistics local,
                         ComputeLocalStatistics(*reader, StudySchema(policy), SplitConfig{}));
    // Every planted value was caught: nine records, nine problems.
    EXPECT_EQ(local.report.records_read(), 9);
    int64_t problems = 0;
    for (const ProblemCount& count : local.report.problem_counts()) problems += count.count;
    EXPECT_EQ(problems, 9);
    Collect(local.report);
  }
}

TEST_F(NoPatientValuesTest, CsvErrorsThatStopReading) {
  WriteFile(dir_.File("open.csv"), "age,notes\n1,\"SENTINEL_OPEN_8 and on\n2,x\n");
  ASSERT_OK_AND_ASSIGN(auto open_quote, CsvReader::Open("open", dir_.File("open.csv")));
  Record record;
  absl::StatusOr<bool> result = open_quote->Next(&record);
  ASSERT_FALSE(result.ok());
  Collect(result.status());

  std::string long_record = "age,notes\n1,\"";
  for (int i = 0; i < 2000; ++i) long_record += "SENTINEL_LONG_9 ";
  WriteFile(dir_.File("long.csv"), long_record + "\"\n");
  CsvOptions options;
  options.max_record_bytes = 1000;
  ASSERT_OK_AND_ASSIGN(auto too_long, CsvReader::Open("long", dir_.File("long.csv"), options));
  result = too_long->Next(&record);
  ASSERT_FALSE(result.ok());
  Collect(result.status());
}

TEST_F(NoPatientValuesTest, CsvFilesWithoutAHeaderRow) {
  // The first record is taken for the header: neither the schema check nor
  // the header check may repeat it.
  WriteFile(dir_.File("no_header.csv"), "SENTINEL_HEAD_14,female,1,0\n40,male,0,1\n");
  ASSERT_OK_AND_ASSIGN(auto reader, CsvReader::Open("no_header", dir_.File("no_header.csv")));
  absl::StatusOr<RowChecker> checker =
      RowChecker::Create(StudySchema(MissingPolicy::kSkipRow), *reader);
  ASSERT_FALSE(checker.ok());
  Collect(checker.status());

  WriteFile(dir_.File("repeated.csv"), "SENTINEL_DUP_15,1,SENTINEL_DUP_15\n");
  absl::StatusOr<std::unique_ptr<CsvReader>> repeated =
      CsvReader::Open("repeated", dir_.File("repeated.csv"));
  ASSERT_FALSE(repeated.ok());
  Collect(repeated.status());
}

TEST_F(NoPatientValuesTest, SqliteCellsAndErrors) {
  const std::string path = dir_.File("ehr.sqlite");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE t (id INTEGER, age, sex TEXT, smoker, outcome, notes);"
                         "INSERT INTO t VALUES (1, 'SENTINEL_SQL_10', 'male', 1, 0, 'x');"
                         "INSERT INTO t VALUES (2, CAST('SENTINEL_BLOB_11' AS BLOB), 'male', 1, "
                         "0, 'x');"
                         "INSERT INTO t VALUES (3, 40, 'male', 1, 0, 'SENTINEL_JSON_12');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  ASSERT_OK_AND_ASSIGN(auto source, SqliteSource::Open("ehr", path, "SELECT * FROM t ORDER BY id"));
  ASSERT_OK_AND_ASSIGN(
      EncodedDataset encoded,
      EncodeDataset(*source, StudySchema(MissingPolicy::kSkipRow), SplitConfig{},
                    Standardization{{"age"}, {50.0}, {10.0}}));
  EXPECT_EQ(encoded.report.records_skipped(), 2);
  Collect(encoded.report);

  // An SQL error caused by a value: the message is SQLite's, without it.
  ASSERT_OK_AND_ASSIGN(auto failing,
                       SqliteSource::Open("ehr", path, "SELECT json(notes) AS j FROM t "
                                                       "WHERE id = 3"));
  Record record;
  absl::StatusOr<bool> result = failing->Next(&record);
  ASSERT_FALSE(result.ok());
  Collect(result.status());
}

}  // namespace
}  // namespace tessera::agent::data
