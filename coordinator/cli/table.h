// Plain-text tables for the `tessera` tool's human output.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tessera::cli {

// `rows` (the first is usually the header) as lines, each cell padded to
// its column's widest cell and two spaces apart, every line starting with
// `indent` and ending without trailing spaces.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows,
                        absl::string_view indent = "");

}  // namespace tessera::cli
