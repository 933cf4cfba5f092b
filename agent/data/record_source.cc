#include "agent/data/record_source.h"

namespace tessera::agent::data {

absl::string_view DatasetKindName(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kCsv: return "csv";
    case DatasetKind::kSqlite: return "sqlite";
  }
  return "unknown";
}

absl::string_view PositionNoun(DatasetKind kind) {
  return kind == DatasetKind::kSqlite ? "row" : "line";
}

}  // namespace tessera::agent::data
