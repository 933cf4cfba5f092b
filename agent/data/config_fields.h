// Small helpers for reading agent.toml and job.toml tables in agent/data/.
//
// Thread-safety: stateless; a ConfigReader is not thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/config.h"

namespace tessera::agent::data {

// The string at `key`, or nullopt when it is missing or not a string; either
// problem is recorded in `reader` once.
std::optional<std::string> RequiredString(ConfigReader& reader, absl::string_view key);

}  // namespace tessera::agent::data
