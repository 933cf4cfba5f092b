#include "common/logging.h"

#include <cctype>
#include <chrono>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_color_sinks.h"

namespace tessera {
namespace {

std::mutex& LoggerMutex() {
  static std::mutex mutex;
  return mutex;
}

// The names operators write in `[log] level`, used in every log line too.
absl::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

absl::StatusOr<spdlog::level::level_enum> ParseLevel(absl::string_view name) {
  // from_str maps anything unknown to "off"; only accept "off" when asked for.
  spdlog::level::level_enum level = spdlog::level::from_str(std::string(name));
  if (level == spdlog::level::off && name != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log level `", name,
                     "`; use one of trace, debug, info, warn, error, critical, off"));
  }
  return level;
}

std::string TimeText(spdlog::log_clock::time_point time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(time), absl::UTCTimeZone());
}

void Append(spdlog::memory_buf_t& dest, absl::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// A message may hold a newline (a multi-line Status, say); journald would
// split it into two events.
void AppendOneLine(spdlog::memory_buf_t& dest, absl::string_view text) {
  for (char c : text) {
    if (c == '\n') {
      Append(dest, "\\n");
    } else if (c == '\r') {
      Append(dest, "\\r");
    } else {
      dest.push_back(c);
    }
  }
}

bool IsKeyStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// True when `payload` continues at `pos` with spaces and then `key=`.
bool FieldStartsAt(absl::string_view payload, size_t pos) {
  while (pos < payload.size() && payload[pos] == ' ') ++pos;
  if (pos == payload.size()) return true;  // only trailing spaces
  if (!IsKeyStart(payload[pos])) return false;
  while (pos < payload.size() && IsKeyChar(payload[pos])) ++pos;
  return pos < payload.size() && payload[pos] == '=';
}

// Splits "round committed job=j1 error=\"a b\"" into the message and its
// fields. Returns false (and leaves the outputs unspecified) when the tail
// after the first `key=` is not a clean list of fields.
bool SplitFields(absl::string_view payload, std::string* message,
                 std::vector<std::pair<std::string, std::string>>* fields) {
  // The message ends before the first word that starts like `key=`.
  size_t start = absl::string_view::npos;
  for (size_t i = 0; i < payload.size(); ++i) {
    if ((i == 0 || payload[i - 1] == ' ') && IsKeyStart(payload[i])) {
      size_t j = i;
      while (j < payload.size() && IsKeyChar(payload[j])) ++j;
      if (j < payload.size() && payload[j] == '=') {
        start = i;
        break;
      }
    }
  }
  if (start == absl::string_view::npos) {
    *message = std::string(payload);
    return true;
  }
  absl::string_view head = payload.substr(0, start);
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  *message = std::string(head);
  size_t i = start;
  while (i < payload.size()) {
    if (payload[i] == ' ') {
      ++i;
      continue;
    }
    if (!IsKeyStart(payload[i])) return false;
    size_t key_end = i;
    while (key_end < payload.size() && IsKeyChar(payload[key_end])) ++key_end;
    if (key_end >= payload.size() || payload[key_end] != '=') return false;
    std::string key(payload.substr(i, key_end - i));
    size_t value_start = key_end + 1;
    std::string value;
    if (value_start < payload.size() && payload[value_start] == '"') {
      // A quoted value ends at a quote followed by the end or by the next
      // field, so quotes inside an error message do not cut it short.
      size_t close = value_start + 1;
      while (true) {
        close = payload.find('"', close);
        if (close == absl::string_view::npos) return false;
        if (close + 1 == payload.size() ||
            (payload[close + 1] == ' ' && FieldStartsAt(payload, close + 1))) {
          break;
        }
        ++close;
      }
      value = std::string(payload.substr(value_start + 1, close - value_start - 1));
      i = close + 1;
    } else {
      size_t end = payload.find(' ', value_start);
      if (end == absl::string_view::npos) end = payload.size();
      value = std::string(payload.substr(value_start, end - value_start));
      i = end;
    }
    fields->emplace_back(std::move(key), std::move(value));
  }
  return true;
}

class TextFormatter : public spdlog::formatter {
 public:
  explicit TextFormatter(bool timestamps) : timestamps_(timestamps) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    if (timestamps_) {
      Append(dest, TimeText(msg.time));
      dest.push_back(' ');
    }
    msg.color_range_start = dest.size();
    Append(dest, LevelName(msg.level));
    msg.color_range_end = dest.size();
    Append(dest, " [");
    Append(dest, absl::string_view(msg.logger_name.data(), msg.logger_name.size()));
    Append(dest, "] ");
    AppendOneLine(dest, absl::string_view(msg.payload.data(), msg.payload.size()));
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>(timestamps_);
  }

 private:
  const bool timestamps_;
};

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    std::string message;
    std::vector<std::pair<std::string, std::string>> fields;
    if (!SplitFields(payload, &message, &fields)) {
      message = std::string(payload);
      fields.clear();
    }
    // An ordered object keeps the documented key order (time first), which
    // people reading raw journal lines expect.
    nlohmann::ordered_json event;
    event["time"] = TimeText(msg.time);
    event["level"] = std::string(LevelName(msg.level));
    event["component"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    event["message"] = message;
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (auto& [key, value] : fields) object[key] = std::move(value);
    event["fields"] = std::move(object);
    // `replace` instead of throwing on bytes that are not UTF-8.
    Append(dest, event.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    dest.push_back('\n');
    msg.color_range_start = msg.color_range_end = 0;
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log format `", name, "`; use \"text\" (key=value) or \"json\""));
}

absl::string_view LogFormatName(LogFormat format) {
  return format == LogFormat::kJson ? "json" : "text";
}

LoggingOptions ReadLoggingOptions(ConfigReader& reader) {
  LoggingOptions options;
  const std::string level = reader.GetString("log.level", options.level);
  if (absl::Status valid = ParseLevel(level).status(); !valid.ok()) {
    reader.AddError("log.level", valid.message());
  } else {
    options.level = level;
  }
  absl::StatusOr<LogFormat> format =
      ParseLogFormat(reader.GetString("log.format", LogFormatName(options.format)));
  if (!format.ok()) {
    reader.AddError("log.format", format.status().message());
  } else {
    options.format = *format;
  }
  return options;
}

absl::Status InitLogging(const LoggingOptions& options) {
  absl::StatusOr<spdlog::level::level_enum> level = ParseLevel(options.level);
  if (!level.ok()) return level.status();
  std::lock_guard<std::mutex> lock(LoggerMutex());
  spdlog::set_formatter(MakeLogFormatter(options.format, options.timestamps));
  spdlog::set_level(*level);
  return absl::OkStatus();
}

absl::Status ReloadLogging(const absl::StatusOr<LoggingOptions>& reread,
                           absl::string_view config_path) {
  auto log = Logger("logging");
  if (!reread.ok()) {
    log->error(
        "reload on SIGHUP failed config={} error=\"{}\" fix=\"correct the file; the "
        "settings in force stay, but the next start would fail\"",
        std::string(config_path), std::string(reread.status().message()));
    return reread.status();
  }
  const std::string before = CurrentLogLevel();
  if (absl::Status status = InitLogging(*reread); !status.ok()) {
    log->error("reload on SIGHUP failed config={} error=\"{}\"", std::string(config_path),
               std::string(status.message()));
    return status;
  }
  // At warn, so that it shows at every level an operator normally runs.
  log->warn("log settings reloaded on SIGHUP config={} level={} previous_level={} format={}",
            std::string(config_path), CurrentLogLevel(), before,
            std::string(LogFormatName(reread->format)));
  return absl::OkStatus();
}

std::string CurrentLogLevel() { return std::string(LevelName(spdlog::get_level())); }

std::shared_ptr<spdlog::logger> Logger(absl::string_view component) {
  std::lock_guard<std::mutex> lock(LoggerMutex());
  std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  // Registered loggers take the registry's formatter and level.
  return spdlog::stderr_color_mt(name);
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format, bool timestamps) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  return std::make_unique<TextFormatter>(timestamps);
}

}  // namespace tessera
