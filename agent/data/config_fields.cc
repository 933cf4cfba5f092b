#include "agent/data/config_fields.h"

namespace tessera::agent::data {

std::optional<std::string> RequiredString(ConfigReader& reader, absl::string_view key) {
  if (!reader.Has(key)) {
    reader.RequireString(key);  // records "missing required key"
    return std::nullopt;
  }
  return reader.GetOptionalString(key);  // records a wrong type
}

}  // namespace tessera::agent::data
