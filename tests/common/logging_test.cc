// Log formats (one event per line, key=value text or JSON), the [log]
// configuration table, and changing the level at run time as SIGHUP does.
#include "common/logging.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"
#include "tests/testing/status_matchers.h"

namespace tessera {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Formats one event through a private logger (not the registry's) with the
// formatter InitLogging installs.
std::string FormatOne(LogFormat format, bool timestamps, spdlog::level::level_enum level,
                      const std::string& payload) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger logger("agent", sink);
  logger.set_formatter(MakeLogFormatter(format, timestamps));
  logger.set_level(spdlog::level::trace);
  logger.log(level, payload);
  return out.str();
}

nlohmann::json ParseEvent(const std::string& line) {
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one event, one line";
  return nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
}

TEST(LogFormatTest, TextIsOneLineWithLevelComponentAndFields) {
  EXPECT_EQ(FormatOne(LogFormat::kText, false, spdlog::level::warn, "stopping signal=15"),
            "warn [agent] stopping signal=15\n");
  // A newline inside the message (a multi-line error) stays on one line, so
  // journald keeps it one event.
  EXPECT_EQ(FormatOne(LogFormat::kText, false, spdlog::level::err, "failed error=\"a\nb\""),
            "error [agent] failed error=\"a\\nb\"\n");
}

TEST(LogFormatTest, TextTimestampIsUtcIso8601WithMilliseconds) {
  const std::string line = FormatOne(LogFormat::kText, true, spdlog::level::info, "hello");
  // 2026-01-05T09:30:00.123Z info [agent] hello
  ASSERT_GE(line.size(), 25u);
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_EQ(line[19], '.');
  EXPECT_EQ(line[23], 'Z');
  EXPECT_EQ(line.substr(24), " info [agent] hello\n");
}

TEST(LogFormatTest, JsonSplitsMessageAndFields) {
  const nlohmann::json event = ParseEvent(
      FormatOne(LogFormat::kJson, false, spdlog::level::info,
                "round committed job=j1 round=3 error=\"peer said \"no\" twice\" site=rfh"));
  ASSERT_FALSE(event.is_discarded());
  EXPECT_EQ(event["level"], "info");
  EXPECT_EQ(event["component"], "agent");
  EXPECT_EQ(event["message"], "round committed");
  EXPECT_EQ(
      event["fields"],
      (nlohmann::json{
          {"job", "j1"}, {"round", "3"}, {"error", "peer said \"no\" twice"}, {"site", "rfh"}}));
  EXPECT_TRUE(event["time"].is_string());
  EXPECT_THAT(event["time"].get<std::string>(), ::testing::EndsWith("Z"));
}

TEST(LogFormatTest, JsonKeepsPayloadWholeWhenItsTailIsNotFields) {
  const std::string payload = "ratio a=1 then some words";
  const nlohmann::json event =
      ParseEvent(FormatOne(LogFormat::kJson, false, spdlog::level::debug, payload));
  EXPECT_EQ(event["message"], payload);
  EXPECT_TRUE(event["fields"].empty());
  EXPECT_EQ(event["level"], "debug");

  const nlohmann::json plain =
      ParseEvent(FormatOne(LogFormat::kJson, false, spdlog::level::info, "no fields at all"));
  EXPECT_EQ(plain["message"], "no fields at all");
  EXPECT_TRUE(plain["fields"].empty());
}

TEST(LogFormatTest, JsonSurvivesBytesThatAreNotUtf8AndNewlines) {
  const nlohmann::json event = ParseEvent(
      FormatOne(LogFormat::kJson, false, spdlog::level::err, "bad file=\xff\xfe x=\"a\nb\""));
  ASSERT_FALSE(event.is_discarded());
  EXPECT_EQ(event["fields"]["x"], "a\nb");
}

TEST(LoggingConfigTest, ReadsLevelAndFormat) {
  ASSERT_OK_AND_ASSIGN(
      ConfigReader reader,
      ConfigReader::FromString("[log]\nlevel = \"debug\"\nformat = \"json\"\n", "agent.toml"));
  LoggingOptions options = ReadLoggingOptions(reader);
  EXPECT_OK(reader.Finish());
  EXPECT_EQ(options.level, "debug");
  EXPECT_EQ(options.format, LogFormat::kJson);

  ASSERT_OK_AND_ASSIGN(ConfigReader empty, ConfigReader::FromString("", "agent.toml"));
  options = ReadLoggingOptions(empty);
  EXPECT_OK(empty.Finish());
  EXPECT_EQ(options.level, "info");
  EXPECT_EQ(options.format, LogFormat::kText);
}

TEST(LoggingConfigTest, UnknownLevelAndFormatAreConfigurationErrors) {
  ASSERT_OK_AND_ASSIGN(
      ConfigReader reader,
      ConfigReader::FromString("[log]\nlevel = \"loud\"\nformat = \"xml\"\n", "agent.toml"));
  ReadLoggingOptions(reader);
  absl::Status status = reader.Finish();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("agent.toml:2:9: `log.level`: unknown log level `loud`")));
  EXPECT_THAT(status.message(), HasSubstr("`log.format`: unknown log format `xml`"));
}

TEST(LoggingReloadTest, SighupReloadChangesTheLevelOfExistingLoggers) {
  ASSERT_OK(InitLogging({.level = "info"}));
  auto logger = Logger("reload-test");
  EXPECT_FALSE(logger->should_log(spdlog::level::debug));

  ASSERT_OK(ReloadLogging(LoggingOptions{.level = "debug"}, "agent.toml"));
  EXPECT_EQ(CurrentLogLevel(), "debug");
  EXPECT_TRUE(logger->should_log(spdlog::level::debug));
  // Loggers made afterwards take the new level too.
  EXPECT_TRUE(Logger("reload-test-later")->should_log(spdlog::level::debug));

  // A configuration that no longer loads, or names an unknown level,
  // changes nothing.
  EXPECT_THAT(
      ReloadLogging(absl::InvalidArgumentError("agent.toml:3:1: unknown key"), "agent.toml"),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ReloadLogging(LoggingOptions{.level = "loud"}, "agent.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown log level")));
  EXPECT_EQ(CurrentLogLevel(), "debug");

  ASSERT_OK(InitLogging({.level = "warn"}));
  EXPECT_FALSE(logger->should_log(spdlog::level::info));
  EXPECT_THAT(CurrentLogLevel(), Not(HasSubstr("debug")));
}

}  // namespace
}  // namespace tessera
