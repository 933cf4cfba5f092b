// Reading TOML configuration files (agent.toml, coordinator.toml, job.toml)
// with errors an operator can act on.
//
// A ConfigReader wraps one parsed file. Callers ask for keys by dotted path
// ("tls.ca_file"); each getter records any problem (missing, wrong type, out
// of range) and returns a default so that reading can go on, and Finish()
// reports every problem at once, each naming the file, the line and the key,
// plus every key in the file that nobody asked for (usually a typo):
//
//   agent.toml:7:11: `coordinator.address` must be a string, found an integer
//   agent.toml: missing required key `tls.ca_file`
//   agent.toml:12:1: unknown key `tls.cafile`; did you mean `tls.ca_file`?
//
// Thread-safety: a ConfigReader is not thread-safe; use it from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

class ConfigReader {
 public:
  // Reads and parses the TOML file at `path`. Returns NOT_FOUND when the file
  // does not exist, PERMISSION_DENIED when it cannot be read, and
  // INVALID_ARGUMENT ("file:line:column: TOML syntax error: ...") when it does
  // not parse.
  static absl::StatusOr<ConfigReader> FromFile(const std::string& path);

  // Parses `text`; `source_name` stands for the file name in messages.
  static absl::StatusOr<ConfigReader> FromString(absl::string_view text,
                                                 absl::string_view source_name);

  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) noexcept;
  ConfigReader(const ConfigReader&) = delete;
  ConfigReader& operator=(const ConfigReader&) = delete;
  ~ConfigReader();

  // Required keys: a missing key or a value of the wrong type is recorded as
  // an error and the zero value is returned.
  std::string RequireString(absl::string_view key);
  int64_t RequireInt(absl::string_view key, int64_t min, int64_t max);
  double RequireDouble(absl::string_view key, double min, double max);

  // Optional keys: absent gives `fallback`; present with the wrong type or
  // out of range is an error.
  std::string GetString(absl::string_view key, absl::string_view fallback);
  std::optional<std::string> GetOptionalString(absl::string_view key);
  int64_t GetInt(absl::string_view key, int64_t fallback, int64_t min, int64_t max);
  double GetDouble(absl::string_view key, double fallback, double min, double max);
  bool GetBool(absl::string_view key, bool fallback);
  std::vector<std::string> GetStringList(absl::string_view key);
  // An optional array of integers, each within [min, max]; absent gives an
  // empty list.
  std::vector<int64_t> GetIntList(absl::string_view key, int64_t min, int64_t max);

  // True when `key` is present (a value or a table). Marks it as known.
  bool Has(absl::string_view key);

  // The names of the sub-tables of the table at `key` (for [datasets.NAME]
  // style sections), sorted by name (toml++ keeps tables sorted, not in file
  // order). Marks the table as known.
  std::vector<std::string> TableNames(absl::string_view key);

  // Records an error for `key` found by the caller's own validation (for
  // example a file that does not exist), with the key's line when known.
  void AddError(absl::string_view key, absl::string_view message);

  // Returns OK when no getter recorded an error and every key in the file was
  // asked for; otherwise INVALID_ARGUMENT listing every problem, one per line,
  // in file order.
  absl::Status Finish();

  const std::string& source_name() const;

 private:
  struct State;
  explicit ConfigReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tessera
