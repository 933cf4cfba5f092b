#include "common/logging.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace tessera {
namespace {

std::mutex& LoggerMutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace

absl::Status InitLogging(const LoggingOptions& options) {
  spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  // from_str maps anything unknown to "off"; only accept "off" when asked for.
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown log level `", options.level,
        "`; use one of trace, debug, info, warn, error, critical, off"));
  }
  spdlog::set_level(level);
  spdlog::set_pattern(options.timestamps ? "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v"
                                         : "%^%l%$ [%n] %v");
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> Logger(absl::string_view component) {
  std::lock_guard<std::mutex> lock(LoggerMutex());
  std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_level(spdlog::get_level());
  return logger;
}

}  // namespace tessera
