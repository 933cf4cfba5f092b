// The datasets a trust offers to federated jobs, as configured in agent.toml,
// and opening them as RecordSources.
//
//   [datasets.diabetes]
//   kind = "csv"                                # "csv" or "sqlite"
//   path = "/var/lib/tessera/data/diabetes.csv"
//
//   [datasets.admissions]
//   kind = "sqlite"
//   path = "/var/lib/tessera/data/ehr.sqlite"   # opened read-only
//   query = "SELECT age, sex, los FROM admissions ORDER BY id"
//
// Dataset names may use letters, digits, `_` and `-`; jobs refer to them by
// name. `query` is required for sqlite and refused for csv.
//
// Thread-safety: plain functions; a ConfigReader is not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/data/csv_reader.h"
#include "agent/data/record_source.h"
#include "common/config.h"

namespace tessera::agent::data {

struct DatasetConfig {
  std::string name;
  DatasetKind kind = DatasetKind::kCsv;
  std::string path;
  std::string query;  // sqlite only
};

// Reads every [`key`.NAME] table of `reader` (key is "datasets" in
// agent.toml), in name order. Problems are recorded in `reader`, each naming
// the key (`datasets.diabetes.kind`) and so the dataset; the caller's
// reader.Finish() reports them all (and unknown keys, such as a typo in a
// dataset's table). The returned list holds only the datasets read without
// problems. No table at `key` gives an empty list.
std::vector<DatasetConfig> ReadDatasetConfigs(ConfigReader& reader,
                                              absl::string_view key = "datasets");

// Opens `config` as a RecordSource (CsvReader or SqliteSource; see their
// Open() for the error codes). `csv_options` applies to CSV files only.
absl::StatusOr<std::unique_ptr<RecordSource>> OpenDataset(const DatasetConfig& config,
                                                          const CsvOptions& csv_options = {});

}  // namespace tessera::agent::data
