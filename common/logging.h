// The one logging header of Tessera: every component logs through here.
//
// Each component takes a named logger (`Logger("agent")`) and writes
// structured `key=value` fields with job, round and site ids after a short
// message:
//
//   Logger("coordinator")->info("round committed job={} round={} sites={}", ...);
//
// Never log a secret or a patient value: log counts and line numbers only.
// Logs go to stderr, which systemd's journald collects for the services, one
// event per line (a newline inside a message is written as `\n`), in one of
// two formats chosen by `[log] format` in the daemon's configuration:
//
//   text  2026-01-05T09:30:00.123Z info [coordinator] round committed job=j1 round=3
//   json  {"time":"2026-01-05T09:30:00.123Z","level":"info","component":"coordinator",
//          "message":"round committed","fields":{"job":"j1","round":"3"}}
//
// (the JSON event is one line; it is wrapped here). In JSON, the message is
// the text before the first `key=value` field and every field's value is a
// string; a value in double quotes (`error="..."`) loses its quotes. A
// payload whose tail is not a clean list of fields stays whole in `message`.
//
// The level and format can change while the daemon runs: on SIGHUP the
// daemons re-read their configuration and call ReloadLogging.
//
// Thread-safety: loggers are thread-safe. InitLogging and ReloadLogging may
// be called from any thread, also while other threads log.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config.h"
#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace tessera {

enum class LogFormat { kText, kJson };

// Parses "text" or "json"; INVALID_ARGUMENT naming both otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);
// "text" or "json".
absl::string_view LogFormatName(LogFormat format);

struct LoggingOptions {
  // One of trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  LogFormat format = LogFormat::kText;
  // Text format only: prefix each line with a timestamp (JSON events always
  // carry one).
  bool timestamps = true;
};

// Reads the `[log]` table shared by agent.toml and coordinator.toml:
//
//   [log]
//   level = "info"      # trace, debug, info, warn, error, critical, off
//   format = "text"     # text (key=value) or json
//
// Both keys are optional. An unknown level or format is recorded in
// `reader` (reported by its Finish()) and the default is returned for it.
LoggingOptions ReadLoggingOptions(ConfigReader& reader);

// Configures the level and format of every logger, present and future.
// Returns INVALID_ARGUMENT naming the accepted levels when `level` is
// unknown; nothing changes then.
absl::Status InitLogging(const LoggingOptions& options);

// The SIGHUP reload: applies `reread` (the [log] settings of the
// configuration file `config_path`, just read again) and logs what is now in
// force, or logs why it could not (the settings in force stay) and returns
// that error. A configuration with errors is reported in full, as it would
// stop the daemon at its next start.
absl::Status ReloadLogging(const absl::StatusOr<LoggingOptions>& reread,
                           absl::string_view config_path);

// The name of the level in force ("info", "debug", ...).
std::string CurrentLogLevel();

// Returns the logger for `component`, creating it on first use.
std::shared_ptr<spdlog::logger> Logger(absl::string_view component);

// The formatter InitLogging installs, for tests and for sinks of one's own.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format, bool timestamps);

}  // namespace tessera
