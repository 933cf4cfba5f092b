#include "agent/data/row_checker.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/data/csv_reader.h"
#include "agent/data/sqlite_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/data_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent::data {
namespace {

using ::tessera::agent::data::testing::WriteAndOpenCsv;
using ::tessera::agent::data::testing::WriteFile;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;

// age: numeric 0..120, sex: female/male, smoker: binary; label: binary.
Schema DiabetesSchema() {
  Schema schema;
  ColumnSpec age = NumericColumn("age", 0, 120);
  ColumnSpec sex = CategoricalColumn("sex", {"female", "male"});
  ColumnSpec smoker = BinaryColumn("smoker");
  schema.features = {age, sex, smoker};
  schema.label = BinaryColumn("outcome");
  return schema;
}

class RowCheckerTest : public ::testing::Test {
 protected:
  std::unique_ptr<CsvReader> OpenCsv(const std::string& content) {
    return WriteAndOpenCsv(dir_, "diabetes", content);
  }

  // Scans `content` with `schema` (no hold-out) and returns the usable rows.
  std::vector<CheckedRow> Scan(const std::string& content, const Schema& schema,
                               DataReport* report) {
    std::unique_ptr<CsvReader> reader = OpenCsv(content);
    std::vector<CheckedRow> rows;
    if (reader == nullptr) return rows;
    auto scanned = ScanDataset(*reader, schema, SplitConfig{0.0, 1},
                               [&](const CheckedRow& row, bool) { rows.push_back(row); });
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    if (scanned.ok()) *report = *scanned;
    return rows;
  }

  TempDir dir_;
};

TEST_F(RowCheckerTest, RefusesADatasetWithoutAColumnTheSchemaReads) {
  auto reader = OpenCsv("age,sex,smoker,outcome,bmi\n");
  Schema schema = DiabetesSchema();
  schema.features.push_back(NumericColumn("hba1c"));
  EXPECT_THAT(RowChecker::Create(schema, *reader),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "column `hba1c` is missing from dataset `diabetes` (file has: age, sex, "
                       "smoker, outcome, bmi)"));
}

TEST_F(RowCheckerTest, ListsEveryMissingColumnAndSuggestsADifferentCase) {
  auto reader = OpenCsv("Age,sex,smoker\n");
  EXPECT_THAT(RowChecker::Create(DiabetesSchema(), *reader),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "column `age` is missing from dataset `diabetes` (file has: Age, sex, "
                       "smoker); did you mean `Age`?\n"
                       "column `outcome` is missing from dataset `diabetes` (file has: Age, sex, "
                       "smoker)"));
}

TEST_F(RowCheckerTest, DoesNotRepeatAHeaderThatSharesNoColumnWithTheSchema) {
  // A file written without a header row: its first record is read as the
  // header and must not be echoed.
  auto reader = OpenCsv("64,female,1,0\n70,male,0,1\n");
  EXPECT_THAT(RowChecker::Create(DiabetesSchema(), *reader),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "dataset `diabetes` has none of the columns the job reads (age, sex, "
                       "smoker, outcome); the first line of the file must be a header row "
                       "naming the columns"));
}

TEST_F(RowCheckerTest, ShortensALongColumnList) {
  std::string header = "outcome";
  for (int i = 0; i < 30; ++i) absl::StrAppend(&header, ",c", i);
  auto reader = OpenCsv(header + "\n");
  EXPECT_THAT(RowChecker::Create(DiabetesSchema(), *reader),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::StartsWith(
                           "column `age` is missing from dataset `diabetes` (file has: outcome, "
                           "c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, "
                           "c16, c17, c18, and 11 more)\n")));
}

TEST_F(RowCheckerTest, SaysQueryReturnsForAnSqliteDataset) {
  TempDir dir;
  WriteFile(dir.File("empty.sqlite"), "");
  ASSERT_OK_AND_ASSIGN(auto source, SqliteSource::Open("ehr", dir.File("empty.sqlite"),
                                                       "SELECT 1 AS age, 'f' AS sex"));
  Schema schema;
  schema.features = {NumericColumn("age")};
  schema.label = BinaryColumn("died");
  EXPECT_THAT(RowChecker::Create(schema, *source),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "column `died` is missing from dataset `ehr` (query returns: age, sex)"));
}

TEST_F(RowCheckerTest, RefusesAnInvalidSchema) {
  auto reader = OpenCsv("age,outcome\n");
  Schema schema;
  schema.label = BinaryColumn("outcome");
  EXPECT_THAT(RowChecker::Create(schema, *reader),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "invalid schema: the schema declares no feature columns"));
}

TEST_F(RowCheckerTest, ParsesValuesOfEachType) {
  DataReport report;
  std::vector<CheckedRow> rows = Scan(
      "id,age,sex,smoker,outcome,notes\n"
      "1, 64 ,female,yes,1,anything\n"
      "2,0,male,FALSE,no,\n"
      "3,1.2e2,female,0,True,\xFF\n",  // an unread column may hold anything
      DiabetesSchema(), &report);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_THAT(rows[0].features, ElementsAre(64.0, 0.0, 1.0));
  EXPECT_EQ(rows[0].label, 1.0);
  EXPECT_THAT(rows[1].features, ElementsAre(0.0, 1.0, 0.0));
  EXPECT_EQ(rows[1].label, 0.0);
  EXPECT_THAT(rows[2].features, ElementsAre(120.0, 0.0, 0.0));
  EXPECT_EQ(rows[2].label, 1.0);
  EXPECT_EQ(report.records_read(), 3);
  EXPECT_EQ(report.records_skipped(), 0);
  EXPECT_TRUE(report.issues().empty());
}

TEST_F(RowCheckerTest, CountsAndSkipsRowsWithProblemsByLineAndColumn) {
  DataReport report;
  std::vector<CheckedRow> rows = Scan(
      "age,sex,smoker,outcome\n"
      "40,female,1,0\n"      // line 2: fine
      "abc,female,1,0\n"     // line 3: not a number
      "130,male,0,1\n"       // line 4: out of range
      "50,other,0,1\n"       // line 5: unknown category
      "50,male,2,1\n"        // line 6: not binary
      ",male,1,1\n"          // line 7: missing
      "50,male,1\n"          // line 8: wrong number of fields
      "50,\"ma\"le,1,1\n"    // line 9: bad quoting
      "60,Female,1,\n"       // line 10: category case differs, and no label
      "nan,male,1,0\n"       // line 11: NaN is not a number
      "inf,male,1,0\n"       // line 12: infinity is out of range
      "70,male,1,1\n",       // line 13: fine
      DiabetesSchema(), &report);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(report.records_read(), 12);
  EXPECT_EQ(report.records_used(), 2);
  EXPECT_EQ(report.records_skipped(), 10);
  EXPECT_EQ(report.values_imputed(), 0);
  std::vector<std::string> issues;
  for (const RowIssue& issue : report.issues()) {
    issues.push_back(absl::StrCat(issue.line, " ", issue.column, " ", ProblemName(issue.problem)));
  }
  EXPECT_THAT(issues, ElementsAre("3 age not a number", "4 age out of range",
                                  "5 sex unknown category", "6 smoker not binary",
                                  "7 age missing value", "8  wrong number of fields",
                                  "9 sex bad quoting", "10 outcome missing value",
                                  "10 sex unknown category", "11 age not a number",
                                  "12 age out of range"));
  EXPECT_EQ(report.Summary(),
            "dataset `diabetes`: 12 records read, 2 used (2 training, 0 hold-out), 10 skipped, "
            "0 values imputed; 1 wrong number of fields (first at line 8); `age`: 1 missing "
            "value (first at line 7); `age`: 2 not a number (first at line 3); `age`: 2 out of "
            "range (first at line 4); `outcome`: 1 missing value (first at line 10); `sex`: 1 bad "
            "quoting (first at line 9); `sex`: 2 unknown category (first at line 5); `smoker`: 1 "
            "not binary (first at line 6)");
}

TEST_F(RowCheckerTest, ImputesFeaturesButNeverTheLabel) {
  Schema schema = DiabetesSchema();
  schema.missing_policy = MissingPolicy::kImpute;
  schema.features[1].default_value = "male";
  schema.features[2].default_value = "no";
  schema.missing_values = {"NA", " ?? "};
  DataReport report;
  std::vector<CheckedRow> rows = Scan(
      "age,sex,smoker,outcome\n"
      "NA,unknown,maybe,1\n"   // everything imputed
      "??,female,,0\n"         // "??" is declared missing
      "999,female,1,\n"        // no label: skipped, nothing imputed
      "30,female,1,1\n",
      schema, &report);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(std::isnan(rows[0].features[0]));
  EXPECT_EQ(rows[0].features[1], 1.0);  // "male" is category 1
  EXPECT_EQ(rows[0].features[2], 0.0);  // "no"
  EXPECT_TRUE(std::isnan(rows[1].features[0]));
  EXPECT_EQ(rows[1].features[1], 0.0);
  EXPECT_EQ(rows[1].features[2], 0.0);
  EXPECT_THAT(rows[2].features, ElementsAre(30.0, 0.0, 1.0));
  EXPECT_EQ(report.records_skipped(), 1);
  EXPECT_EQ(report.values_imputed(), 5);
  std::vector<std::string> issues;
  for (const RowIssue& issue : report.issues()) {
    issues.push_back(absl::StrCat(issue.line, " ", issue.column, " ", ProblemName(issue.problem),
                                  issue.imputed ? " imputed" : ""));
  }
  EXPECT_THAT(issues, ElementsAre("2 age missing value imputed", "2 sex unknown category imputed",
                                  "2 smoker not binary imputed", "3 age missing value imputed",
                                  "3 smoker missing value imputed", "4 outcome missing value",
                                  "4 age out of range"));
}

TEST_F(RowCheckerTest, KeepsCountsCompleteButListsAtMostTheCap) {
  std::string content = "age,sex,smoker,outcome\n";
  for (size_t i = 0; i < DataReport::kMaxIssues + 5; ++i) content += "x,female,1,1\n";
  DataReport report;
  Scan(content, DiabetesSchema(), &report);
  EXPECT_EQ(report.issues().size(), DataReport::kMaxIssues);
  EXPECT_EQ(report.issues_not_listed(), 5);
  ASSERT_EQ(report.problem_counts().size(), 1u);
  EXPECT_EQ(report.problem_counts()[0].count, static_cast<int64_t>(DataReport::kMaxIssues + 5));
}

}  // namespace
}  // namespace tessera::agent::data
