// The one logging header of Tessera: every component logs through here.
//
// Each component takes a named logger (`Logger("agent")`) and writes
// structured `key=value` fields with job, round and site ids:
//
//   Logger("coordinator")->info("round committed job={} round={} sites={}", ...);
//
// Never log a secret or a patient value: log counts and line numbers only.
// Logs go to stderr, which systemd's journald collects for the services.
//
// Thread-safety: loggers are thread-safe; InitLogging should be called once,
// early in main, before other threads start.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace tessera {

struct LoggingOptions {
  // One of trace, debug, info, warn, error, critical, off.
  std::string level = "info";
  // Prefix each line with a timestamp. Off under systemd, whose journal
  // stamps every line itself.
  bool timestamps = true;
};

// Configures the log level and format for every logger, present and future.
// Returns INVALID_ARGUMENT naming the accepted levels when `level` is unknown.
absl::Status InitLogging(const LoggingOptions& options);

// Returns the logger for `component`, creating it on first use.
std::shared_ptr<spdlog::logger> Logger(absl::string_view component);

}  // namespace tessera
