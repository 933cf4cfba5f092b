#include "agent/data/dataset.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/data/config_fields.h"
#include "agent/data/sqlite_source.h"

namespace tessera::agent::data {
namespace {

bool IsValidDatasetName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

}  // namespace

std::vector<DatasetConfig> ReadDatasetConfigs(ConfigReader& reader, absl::string_view key) {
  std::vector<DatasetConfig> datasets;
  std::vector<std::string> names = reader.TableNames(key);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string table = absl::StrCat(key, ".", name);
    bool ok = true;
    if (!IsValidDatasetName(name)) {
      reader.AddError(table, "dataset names may use only letters, digits, `_` and `-` (at most "
                             "64 characters)");
      ok = false;
    }
    DatasetConfig config;
    config.name = name;
    const std::string kind_key = absl::StrCat(table, ".kind");
    const std::optional<std::string> kind = RequiredString(reader, kind_key);
    if (kind == "csv") {
      config.kind = DatasetKind::kCsv;
    } else if (kind == "sqlite") {
      config.kind = DatasetKind::kSqlite;
    } else {
      if (kind.has_value()) {
        reader.AddError(kind_key, absl::StrCat("dataset `", name, "` has unknown kind \"", *kind,
                                               "\"; use \"csv\" or \"sqlite\""));
      }
      ok = false;
    }
    const std::string path_key = absl::StrCat(table, ".path");
    const std::optional<std::string> path = RequiredString(reader, path_key);
    if (path.has_value() && path->empty()) {
      reader.AddError(path_key, absl::StrCat("dataset `", name, "` needs a non-empty path"));
    }
    if (!path.has_value() || path->empty()) {
      ok = false;
    } else {
      config.path = *path;
    }
    const std::string query_key = absl::StrCat(table, ".query");
    std::optional<std::string> query = reader.GetOptionalString(query_key);
    if (kind == "sqlite") {
      if (!query.has_value() || absl::StripAsciiWhitespace(*query).empty()) {
        reader.AddError(table, absl::StrCat("dataset `", name, "` is an sqlite dataset and needs `",
                                            query_key, "` (a SELECT statement)"));
        ok = false;
      } else {
        config.query = *query;
      }
    } else if (kind == "csv" && query.has_value()) {
      reader.AddError(query_key, absl::StrCat("dataset `", name,
                                              "` is a csv dataset; `query` applies only to "
                                              "kind = \"sqlite\""));
      ok = false;
    }
    if (ok) datasets.push_back(std::move(config));
  }
  return datasets;
}

absl::StatusOr<std::unique_ptr<RecordSource>> OpenDataset(const DatasetConfig& config,
                                                          const CsvOptions& csv_options) {
  switch (config.kind) {
    case DatasetKind::kCsv: {
      auto reader = CsvReader::Open(config.name, config.path, csv_options);
      if (!reader.ok()) return reader.status();
      return std::unique_ptr<RecordSource>(std::move(*reader));
    }
    case DatasetKind::kSqlite: {
      auto source = SqliteSource::Open(config.name, config.path, config.query);
      if (!source.ok()) return source.status();
      return std::unique_ptr<RecordSource>(std::move(*source));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dataset `", config.name, "` has an unknown kind"));
}

}  // namespace tessera::agent::data
