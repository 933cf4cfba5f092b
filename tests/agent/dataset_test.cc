#include "agent/data/dataset.h"

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
using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DatasetConfigTest, ReadsCsvAndSqliteDatasets) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(R"(
[datasets.diabetes]
kind = "csv"
path = "/var/lib/tessera/data/diabetes.csv"

[datasets.admissions]
kind = "sqlite"
path = "/var/lib/tessera/data/ehr.sqlite"
query = "SELECT age, los FROM admissions ORDER BY id"
)", "agent.toml"));
  std::vector<DatasetConfig> datasets = ReadDatasetConfigs(reader);
  EXPECT_THAT(reader.Finish(), IsOk());
  ASSERT_EQ(datasets.size(), 2u);
  EXPECT_EQ(datasets[0].name, "admissions");
  EXPECT_EQ(datasets[0].kind, DatasetKind::kSqlite);
  EXPECT_EQ(datasets[0].path, "/var/lib/tessera/data/ehr.sqlite");
  EXPECT_EQ(datasets[0].query, "SELECT age, los FROM admissions ORDER BY id");
  EXPECT_EQ(datasets[1].name, "diabetes");
  EXPECT_EQ(datasets[1].kind, DatasetKind::kCsv);
  EXPECT_EQ(datasets[1].path, "/var/lib/tessera/data/diabetes.csv");
  EXPECT_EQ(datasets[1].query, "");
}

TEST(DatasetConfigTest, NoDatasetsTableGivesAnEmptyList) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString("", "agent.toml"));
  EXPECT_TRUE(ReadDatasetConfigs(reader).empty());
  EXPECT_THAT(reader.Finish(), IsOk());
}

TEST(DatasetConfigTest, EachProblemNamesTheDatasetAndKey) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(R"(
[datasets.a]
kind = "xlsx"
path = "/data/a.xlsx"
[datasets.b]
kind = "sqlite"
path = "/data/b.sqlite"
[datasets.c]
kind = "csv"
path = "/data/c.csv"
query = "SELECT 1"
[datasets.d]
path = ""
kind = "csv"
[datasets.e]
kind = "csv"
[datasets.f]
kind = "csv"
path = "/data/f.csv"
pth = "typo"
)", "agent.toml"));
  std::vector<DatasetConfig> datasets = ReadDatasetConfigs(reader);
  ASSERT_EQ(datasets.size(), 1u);  // only f is complete (its typo is reported below)
  EXPECT_EQ(datasets[0].name, "f");
  EXPECT_THAT(reader.Finish(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "agent.toml:3:8: `datasets.a.kind`: dataset `a` has unknown kind \"xlsx\"; "
                       "use \"csv\" or \"sqlite\"\n"
                       "agent.toml:5:1: `datasets.b`: dataset `b` is an sqlite dataset and needs "
                       "`datasets.b.query` (a SELECT statement)\n"
                       "agent.toml:11:9: `datasets.c.query`: dataset `c` is a csv dataset; "
                       "`query` applies only to kind = \"sqlite\"\n"
                       "agent.toml:13:8: `datasets.d.path`: dataset `d` needs a non-empty path\n"
                       "agent.toml:20:1: unknown key `datasets.f.pth`; did you mean "
                       "`datasets.e.path`?\n"
                       "agent.toml: missing required key `datasets.e.path` (a string)"));
}

TEST(DatasetConfigTest, RefusesNamesThatAreNotIdentifiers) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(R"(
[datasets."my data"]
kind = "csv"
path = "/data/x.csv"
)", "agent.toml"));
  EXPECT_TRUE(ReadDatasetConfigs(reader).empty());
  EXPECT_THAT(reader.Finish(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("dataset names may use only letters")));
}

TEST(DatasetConfigTest, OpensEachKindAsARecordSource) {
  TempDir dir;
  WriteFile(dir.File("a.csv"), "age,sex\n40,female\n");
  DatasetConfig csv{"a", DatasetKind::kCsv, dir.File("a.csv"), ""};
  ASSERT_OK_AND_ASSIGN(auto csv_source, OpenDataset(csv));
  EXPECT_EQ(csv_source->dataset(), "a");
  EXPECT_THAT(csv_source->columns(), ElementsAre("age", "sex"));
  ASSERT_OK_AND_ASSIGN(std::vector<Record> rows, ReadAll(*csv_source));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].values, ElementsAre("40", "female"));

  // SQLite creates an empty database for a zero-length file; the query then
  // sees no table.
  WriteFile(dir.File("b.sqlite"), "");
  DatasetConfig sqlite{"b", DatasetKind::kSqlite, dir.File("b.sqlite"), "SELECT 7 AS seven"};
  ASSERT_OK_AND_ASSIGN(auto sqlite_source, OpenDataset(sqlite));
  EXPECT_EQ(sqlite_source->kind(), DatasetKind::kSqlite);
  EXPECT_THAT(sqlite_source->columns(), ElementsAre("seven"));
  sqlite.query = "SELECT * FROM missing_table";
  EXPECT_THAT(OpenDataset(sqlite),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no such table")));
}

}  // namespace
}  // namespace tessera::agent::data
