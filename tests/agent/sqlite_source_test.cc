#include "agent/data/sqlite_source.h"

#include <sqlite3.h>

#include <filesystem>
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

class SqliteSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("ehr.sqlite");
    Execute(
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, age INTEGER, bmi REAL, sex TEXT, "
        "scan BLOB);"
        "INSERT INTO patients VALUES (1, 64, 27.5, 'female', NULL);"
        "INSERT INTO patients VALUES (2, NULL, 0.1, 'male', NULL);"
        "INSERT INTO patients VALUES (3, 71, NULL, '', x'00ff');"
        "INSERT INTO patients VALUES (4, 58, 31.25, CAST(x'636166e9' AS TEXT), NULL);");
  }

  // Runs `sql` on the database with a separate read-write connection.
  void Execute(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int code = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(code, SQLITE_OK) << message;
  }

  int64_t CountRows() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM patients", -1, &statement, nullptr);
    sqlite3_step(statement);
    const int64_t count = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return count;
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(SqliteSourceTest, StreamsTheRowsOfTheQueryWithItsColumnNames) {
  ASSERT_OK_AND_ASSIGN(auto source,
                       SqliteSource::Open("ehr", path_,
                                          "SELECT id, age AS age_years, bmi, sex, scan "
                                          "FROM patients ORDER BY id"));
  EXPECT_THAT(source->columns(), ElementsAre("id", "age_years", "bmi", "sex", "scan"));
  EXPECT_EQ(source->kind(), DatasetKind::kSqlite);
  ASSERT_OK_AND_ASSIGN(std::vector<Record> rows, ReadAll(*source));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_THAT(rows[0].values, ElementsAre("1", "64", "27.5", "female", ""));
  EXPECT_THAT(rows[0].cells, ElementsAre(CellState::kValue, CellState::kValue, CellState::kValue,
                                         CellState::kValue, CellState::kMissing));
  // NULL is missing; a REAL keeps every digit it has (0.1 is not exactly 0.1).
  EXPECT_EQ(rows[1].cells[1], CellState::kMissing);
  EXPECT_EQ(rows[1].values[2], "0.10000000000000001");
  EXPECT_EQ(std::stod(rows[1].values[2]), 0.1);
  // Empty text is missing; a BLOB is flagged, not read as text.
  EXPECT_EQ(rows[2].cells[2], CellState::kMissing);
  EXPECT_EQ(rows[2].cells[3], CellState::kMissing);
  EXPECT_EQ(rows[2].cells[4], CellState::kBlob);
  // Text that is not UTF-8 (Latin-1 "caf\xE9") is flagged and dropped.
  EXPECT_EQ(rows[3].cells[3], CellState::kInvalidUtf8);
  EXPECT_EQ(rows[3].values[3], "");
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(rows[i].line, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(rows[i].defect, RecordDefect::kNone);
  }
  Record after;
  EXPECT_THAT(source->Next(&after), ::tessera::testing::IsOkAndHolds(false));
}

TEST_F(SqliteSourceTest, RefusesQueriesThatWouldWrite) {
  EXPECT_THAT(SqliteSource::Open("ehr", path_, "DELETE FROM patients"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dataset `ehr`: the query would modify the database; only read-only "
                       "SELECT queries are run"));
  EXPECT_THAT(SqliteSource::Open("ehr", path_, "SELECT id FROM patients; DELETE FROM patients"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the query holds more than one statement")));
  EXPECT_THAT(SqliteSource::Open("ehr", path_, "PRAGMA query_only = OFF"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(CountRows(), 4);
  // A trailing semicolon and comment are not a second statement.
  EXPECT_TRUE(SqliteSource::Open("ehr", path_, "SELECT id FROM patients; -- all\n").ok());
}

TEST_F(SqliteSourceTest, RunsTheQueryOnAQueryOnlyConnection) {
  // The connection itself refuses writes (PRAGMA query_only), a second guard
  // behind the read-only open and the statement check.
  ASSERT_OK_AND_ASSIGN(auto source,
                       SqliteSource::Open("ehr", path_, "SELECT * FROM pragma_query_only"));
  ASSERT_OK_AND_ASSIGN(std::vector<Record> rows, ReadAll(*source));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].values, ElementsAre("1"));
  // ATTACH counts as read-only for SQLite but would create a file; it
  // returns no columns and is refused before it runs.
  const std::string attached = dir_.File("created.sqlite");
  EXPECT_THAT(SqliteSource::Open("ehr", path_, absl::StrCat("ATTACH '", attached, "' AS extra")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dataset `ehr`: the query returns no columns; give a SELECT statement"));
  EXPECT_FALSE(std::filesystem::exists(attached));
}

TEST_F(SqliteSourceTest, NamesTheDatasetAndTheSqlError) {
  EXPECT_THAT(SqliteSource::Open("ehr", path_, "SELECT nope FROM patients"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dataset `ehr`: the query does not compile: no such column: nope"));
  EXPECT_THAT(SqliteSource::Open("ehr", path_, "SELECT id, age AS id FROM patients"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the query returns column `id` twice (columns 1 and 2)")));
  // A runtime error names the row it stopped at.
  ASSERT_OK_AND_ASSIGN(
      auto source,
      SqliteSource::Open("ehr", path_,
                         "SELECT CASE WHEN id = 3 THEN abs(-9223372036854775807 - 1) ELSE id END "
                         "AS v FROM patients ORDER BY id"));
  Record record;
  ASSERT_THAT(source->Next(&record), ::tessera::testing::IsOkAndHolds(true));
  ASSERT_THAT(source->Next(&record), ::tessera::testing::IsOkAndHolds(true));
  EXPECT_THAT(source->Next(&record),
              StatusIs(absl::StatusCode::kInternal,
                       "dataset `ehr`: SQLite error at row 3: integer overflow"));
}

TEST_F(SqliteSourceTest, ReportsAMissingFileAndAFileThatIsNoDatabase) {
  EXPECT_THAT(SqliteSource::Open("ehr", dir_.File("none.sqlite"), "SELECT 1"),
              StatusIs(absl::StatusCode::kNotFound,
                       absl::StrCat("dataset `ehr`: SQLite database `", dir_.File("none.sqlite"),
                                    "` does not exist; check `path` in agent.toml")));
  const std::string text_file = dir_.File("notes.txt");
  WriteFile(text_file, std::string(4096, 'x'));
  EXPECT_THAT(SqliteSource::Open("ehr", text_file, "SELECT * FROM patients"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("file is not a database")));
}

}  // namespace
}  // namespace tessera::agent::data
