#include "common/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST(ConfigReaderTest, ReadsTypedValuesFromTables) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(R"(
[coordinator]
address = "127.0.0.1:7443"
heartbeat_seconds = 15
[privacy]
epsilon_ceiling = 8
delta = 1e-5
strict = true
approved = ["abc", "def"]
)", "agent.toml"));
  EXPECT_EQ(reader.RequireString("coordinator.address"), "127.0.0.1:7443");
  EXPECT_EQ(reader.RequireInt("coordinator.heartbeat_seconds", 1, 3600), 15);
  EXPECT_DOUBLE_EQ(reader.RequireDouble("privacy.epsilon_ceiling", 0, 100), 8.0);
  EXPECT_DOUBLE_EQ(reader.GetDouble("privacy.delta", 0.1, 0, 1), 1e-5);
  EXPECT_TRUE(reader.GetBool("privacy.strict", false));
  EXPECT_THAT(reader.GetStringList("privacy.approved"), ::testing::ElementsAre("abc", "def"));
  EXPECT_EQ(reader.GetString("log.level", "info"), "info");
  EXPECT_EQ(reader.GetInt("coordinator.retries", 5, 0, 10), 5);
  EXPECT_THAT(reader.Finish(), IsOk());
}

TEST(ConfigReaderTest, WrongTypeNamesFileLineKeyAndTypes) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(
      "[coordinator]\naddress = 7443\n", "agent.toml"));
  EXPECT_EQ(reader.RequireString("coordinator.address"), "");
  EXPECT_THAT(reader.Finish(),
              StatusIs(kInvalid, "agent.toml:2:11: `coordinator.address` must be a string, "
                                 "found an integer"));
}

TEST(ConfigReaderTest, MissingRequiredKeyIsNamed) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader,
                       ConfigReader::FromString("[tls]\ncert_file = \"a.pem\"\n", "agent.toml"));
  reader.RequireString("tls.cert_file");
  reader.RequireString("tls.ca_file");
  EXPECT_THAT(reader.Finish(),
              StatusIs(kInvalid, "agent.toml: missing required key `tls.ca_file` (a string)"));
}

TEST(ConfigReaderTest, UnknownKeyIsReportedWithLineAndSuggestion) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(
      "[tls]\nca_file = \"ca.pem\"\ncert_fil = \"a.pem\"\n", "agent.toml"));
  reader.RequireString("tls.ca_file");
  reader.GetOptionalString("tls.cert_file");
  EXPECT_THAT(reader.Finish(),
              StatusIs(kInvalid, "agent.toml:3:1: unknown key `tls.cert_fil`; did you mean "
                                 "`tls.cert_file`?"));
}

TEST(ConfigReaderTest, UnknownKeyWithoutCloseMatchSaysToRemoveIt) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader,
                       ConfigReader::FromString("colour = \"blue\"\nname = \"x\"\n", "c.toml"));
  reader.RequireString("name");
  EXPECT_THAT(reader.Finish(), StatusIs(kInvalid, AllOf(HasSubstr("c.toml:1:1: unknown key `colour`"),
                                                        HasSubstr("remove it"))));
}

TEST(ConfigReaderTest, SyntaxErrorNamesFileLineAndColumn) {
  auto reader = ConfigReader::FromString("[tls]\nca_file = \"unterminated\n", "agent.toml");
  EXPECT_THAT(reader, StatusIs(kInvalid, AllOf(HasSubstr("agent.toml:2:"),
                                               HasSubstr("TOML syntax error"))));
}

TEST(ConfigReaderTest, OutOfRangeIntegerIsReported) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader,
                       ConfigReader::FromString("port = 70000\n", "c.toml"));
  EXPECT_EQ(reader.RequireInt("port", 0, 65535), 0);
  EXPECT_THAT(reader.Finish(),
              StatusIs(kInvalid, "c.toml:1:8: `port` is 70000 but must be between 0 and 65535"));
}

TEST(ConfigReaderTest, IntegerIsAcceptedWhereANumberIsWanted) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString("epsilon = 3\n", "j.toml"));
  EXPECT_DOUBLE_EQ(reader.RequireDouble("epsilon", 0, 100), 3.0);
  EXPECT_THAT(reader.Finish(), IsOk());
}

TEST(ConfigReaderTest, ReportsEveryProblemAtOnceInFileOrder) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(
      "b = \"text\"\ntypo = 1\na = true\n", "c.toml"));
  reader.RequireInt("a", 0, 10);
  reader.RequireInt("b", 0, 10);
  reader.RequireString("c");
  absl::Status status = reader.Finish();
  EXPECT_THAT(status, StatusIs(kInvalid,
                               "c.toml:1:5: `b` must be an integer, found a string\n"
                               "c.toml:2:1: unknown key `typo`; remove it or check the "
                               "documentation for the keys this file takes\n"
                               "c.toml:3:5: `a` must be an integer, found a boolean\n"
                               "c.toml: missing required key `c` (a string)"));
}

TEST(ConfigReaderTest, TableNamesListsSubTablesAndMarksThemKnown) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(R"(
[datasets.cardiology]
path = "a.csv"
[datasets.oncology]
path = "b.csv"
)", "agent.toml"));
  std::vector<std::string> names = reader.TableNames("datasets");
  EXPECT_THAT(names, ::testing::ElementsAre("cardiology", "oncology"));
  for (const std::string& name : names) reader.RequireString("datasets." + name + ".path");
  EXPECT_THAT(reader.Finish(), IsOk());
}

TEST(ConfigReaderTest, StringListRejectsNonStrings) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString("l = [\"a\", 2]\n", "c.toml"));
  EXPECT_THAT(reader.GetStringList("l"), ::testing::ElementsAre("a"));
  EXPECT_THAT(reader.Finish(), StatusIs(kInvalid, HasSubstr("`l` must hold only strings, found an integer")));
}

TEST(ConfigReaderTest, IntListChecksTypeAndRange) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader,
                       ConfigReader::FromString("l = [32, 0, \"x\", 16]\n", "c.toml"));
  EXPECT_THAT(reader.GetIntList("l", 1, 4096), ::testing::ElementsAre(32, 16));
  EXPECT_THAT(reader.GetIntList("absent", 1, 2), ::testing::IsEmpty());
  absl::Status status = reader.Finish();
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("c.toml:1:")));
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("`l` values must be between 1 and 4096, found 0")));
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("`l` must hold only integers, found a string")));
}

TEST(ConfigReaderTest, CallerErrorsCarryTheKeyLine) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader,
                       ConfigReader::FromString("\n\nca_file = \"/nope.pem\"\n", "agent.toml"));
  reader.RequireString("ca_file");
  reader.AddError("ca_file", "file `/nope.pem` does not exist");
  EXPECT_THAT(reader.Finish(),
              StatusIs(kInvalid, "agent.toml:3:11: `ca_file`: file `/nope.pem` does not exist"));
}

TEST(ConfigReaderTest, MissingFileIsNotFound) {
  EXPECT_THAT(ConfigReader::FromFile("/nonexistent/tessera/agent.toml"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
}

TEST(ConfigReaderTest, FromFileUsesThePathInMessages) {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("tessera_config_test_" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream out(path);
    out << "x = 1\n";
  }
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromFile(path.string()));
  reader.RequireString("x");
  EXPECT_THAT(reader.Finish(), StatusIs(kInvalid, HasSubstr(path.string() + ":1:5:")));
  std::filesystem::remove(path);
}

TEST(ConfigReaderTest, CleanFileIsNotReportedAsBroken) {
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString("x = 1\n", "c.toml"));
  EXPECT_THAT(reader.Finish(), Not(IsOk()));  // `x` was never asked for: unknown
}

}  // namespace
}  // namespace tessera
