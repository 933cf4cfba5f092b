#include "coordinator/cli/simulate_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/data/csv_reader.h"
#include "common/status.h"
#include "coordinator/job/job_json.h"

namespace tessera::cli {
namespace {

namespace data = agent::data;
using data::ColumnType;

bool IsMissing(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return true;
  for (const char* marker : kMissingValues) {
    if (text == marker) return true;
  }
  return false;
}

bool IsNumber(absl::string_view text) {
  double value = 0;
  return absl::SimpleAtod(absl::StripAsciiWhitespace(text), &value) && std::isfinite(value);
}

// What one column of the first file holds.
struct ColumnScan {
  std::string name;
  size_t index = 0;
  int64_t values = 0;  // non-missing cells
  bool all_binary = true;
  bool all_numeric = true;
  std::set<std::string> distinct;  // trimmed texts, capped at kMaxCategories + 1
};

// One CSV file read through the agent's own reader, so the simulation sees
// exactly the rows and cells the agents will.
struct CsvFile {
  std::unique_ptr<data::CsvReader> reader;
  std::map<std::string, size_t> column_index;
};

absl::StatusOr<CsvFile> OpenCsv(const std::string& flag_path, const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat("--data ", flag_path, ": no such file"));
  }
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data ", flag_path, ": is a folder; give one CSV file per site"));
  }
  auto reader = data::CsvReader::Open("simulation", path);
  if (!reader.ok()) {
    return absl::Status(reader.status().code(),
                        absl::StrCat("--data ", flag_path, ": ", reader.status().message()));
  }
  CsvFile file;
  file.reader = std::move(*reader);
  const std::vector<std::string>& columns = file.reader->columns();
  for (size_t i = 0; i < columns.size(); ++i) file.column_index[columns[i]] = i;
  return file;
}

std::string TypeText(ColumnType type) { return std::string(data::ColumnTypeName(type)); }

// The cell of `column` in `record`, or nullopt when it is missing.
std::optional<absl::string_view> Cell(const data::Record& record, size_t column) {
  if (column >= record.values.size() || column >= record.cells.size()) return std::nullopt;
  if (record.cells[column] != data::CellState::kValue) return std::nullopt;
  if (IsMissing(record.values[column])) return std::nullopt;
  return absl::StripAsciiWhitespace(record.values[column]);
}

// Counts the label's classes: labels[0] zeros, labels[1] ones.
absl::Status CheckLabelCell(const std::string& label, const std::string& file,
                            const data::Record& record, absl::string_view text, int64_t labels[2]) {
  if (std::optional<bool> value = data::ParseBinary(text); value.has_value()) {
    ++labels[*value ? 1 : 0];
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--label ", label, ": the column is not binary in ", file, " (line ",
                   record.line, " is not 0/1, true/false or yes/no)"));
}

// A site whose records all lack the label has nothing to train on.
absl::Status CheckLabelCount(const std::string& label, const std::string& file,
                             const int64_t labels[2], int64_t all_labels[2]) {
  if (labels[0] + labels[1] == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--label ", label,
                                                   ": the column has no values in ", file,
                                                   " (a site needs labelled records)"));
  }
  all_labels[0] += labels[0];
  all_labels[1] += labels[1];
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateOptions(const SimulationOptions& options) {
  const bool private_mode = options.privacy == "record" || options.privacy == "site";
  if (!private_mode && options.privacy != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("--privacy must be record, site or none, not `", options.privacy, "`"));
  }
  if (!private_mode && (options.epsilon.has_value() || options.delta.has_value())) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.epsilon.has_value() ? "--epsilon" : "--delta",
                     " means nothing with --privacy none; drop it or use --privacy record"));
  }
  if (options.epsilon.has_value() && !(*options.epsilon >= 1e-3 && *options.epsilon <= 100)) {
    return absl::InvalidArgumentError("--epsilon must be between 0.001 and 100");
  }
  if (options.delta.has_value() && !(*options.delta >= 1e-12 && *options.delta <= 1e-2)) {
    return absl::InvalidArgumentError("--delta must be between 1e-12 and 0.01");
  }
  if (!(options.dropout >= 0 && options.dropout < 1)) {
    return absl::InvalidArgumentError("--dropout must be a probability in [0, 1)");
  }
  if (!(options.holdout > 0 && options.holdout < 1)) {
    return absl::InvalidArgumentError("--holdout must be a fraction in (0, 1)");
  }
  if (options.model != "logistic" && options.model != "mlp" &&
      !absl::EndsWith(options.model, ".pt")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model must be logistic, mlp or a TorchScript file ending in .pt, not `",
                     options.model, "`"));
  }
  if (options.label.empty()) return absl::InvalidArgumentError("--label must name a column");
  return absl::OkStatus();
}

absl::StatusOr<SecAggPlan> PlanSecureAggregation(int64_t sites, std::optional<int64_t> threshold) {
  if (sites < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--data: ", sites, sites == 1 ? " file" : " files",
        " given; a federation needs at least 3 sites (one CSV each), as secure aggregation "
        "hides each site's update only among 3 or more"));
  }
  SecAggPlan plan;
  plan.max_sites = sites;
  plan.threshold = threshold.value_or((sites - 1) / 2 + 1);
  if (plan.threshold < 1) {
    return absl::InvalidArgumentError("--secagg-threshold must be at least 1");
  }
  if (plan.threshold >= sites) {
    return absl::InvalidArgumentError(
        absl::StrCat("--secagg-threshold ", plan.threshold, " needs at least ", plan.threshold + 1,
                     " sites (each site's update is protected by ", plan.threshold,
                     " surviving neighbours), but --data gives ", sites));
  }
  if (2 * plan.threshold <= sites - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--secagg-threshold ", plan.threshold, " is too low for ", sites,
                     " sites: it must be more than half of each site's ", sites - 1,
                     " neighbours (use ", (sites - 1) / 2 + 1, " to ", sites - 1, ")"));
  }
  plan.min_sites = std::max<int64_t>(3, plan.threshold + 1);
  return plan;
}

std::string SiteIdFor(const std::string& path, const std::vector<std::string>& taken) {
  std::string id = std::filesystem::path(path).stem().string();
  for (char& c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      c = '-';
    }
  }
  if (id.empty()) id = "site";
  if (id.size() > 60) id.resize(60);
  std::string candidate = id;
  for (int n = 2; std::find(taken.begin(), taken.end(), candidate) != taken.end(); ++n) {
    candidate = absl::StrCat(id, "-", n);
  }
  return candidate;
}

absl::StatusOr<SimulationData> LoadSimulationData(const std::vector<std::string>& paths,
                                                  const std::string& label) {
  if (paths.empty()) return absl::InvalidArgumentError("--data: give one CSV file per site");
  SimulationData result;
  std::vector<std::string> ids;
  for (const std::string& path : paths) {
    SiteFile site;
    site.path = std::filesystem::absolute(path).lexically_normal().string();
    site.site = SiteIdFor(path, ids);
    ids.push_back(site.site);
    result.sites.push_back(std::move(site));
  }

  // The first file: infer every column's type.
  const std::string& first = paths[0];
  TESSERA_ASSIGN_OR_RETURN(CsvFile head, OpenCsv(first, result.sites[0].path));
  const std::vector<std::string> columns = head.reader->columns();
  if (head.column_index.count(label) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--label ", label, ": no such column in ", first,
                                                   " (it has ", absl::StrJoin(columns, ", "), ")"));
  }
  std::vector<ColumnScan> scans;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == label) continue;
    if (columns[i].find('.') != std::string::npos || columns[i].find('"') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data ", first, ": column `", columns[i],
                       "` has a `.` or `\"` in its name, which a job file cannot hold; rename it"));
    }
    ColumnScan scan;
    scan.name = columns[i];
    scan.index = i;
    scans.push_back(std::move(scan));
  }
  if (scans.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data ", first, ": no column besides the label --label ", label));
  }
  const size_t label_index = head.column_index[label];
  data::Record record;
  int64_t records = 0;
  int64_t all_labels[2] = {0, 0};
  int64_t labels[2] = {0, 0};
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool more, head.reader->Next(&record));
    if (!more) break;
    if (record.defect != data::RecordDefect::kNone) continue;
    ++records;
    if (auto text = Cell(record, label_index); text.has_value()) {
      TESSERA_RETURN_IF_ERROR(CheckLabelCell(label, first, record, *text, labels));
    }
    for (ColumnScan& scan : scans) {
      auto text = Cell(record, scan.index);
      if (!text.has_value()) continue;
      ++scan.values;
      scan.all_binary = scan.all_binary && data::ParseBinary(*text).has_value();
      scan.all_numeric = scan.all_numeric && IsNumber(*text);
      if (scan.distinct.size() <= kMaxCategories) scan.distinct.emplace(*text);
    }
  }
  if (records == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data ", first, ": the file has no records (a site needs at least one)"));
  }
  TESSERA_RETURN_IF_ERROR(CheckLabelCount(label, first, labels, all_labels));
  result.sites[0].records = records;
  result.schema.label = data::BinaryColumn(label);
  result.schema.missing_policy = data::MissingPolicy::kSkipRow;
  for (const char* marker : kMissingValues) result.schema.missing_values.emplace_back(marker);
  for (const ColumnScan& scan : scans) {
    if (scan.values == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data ", first, ": column `", scan.name, "` has no values; remove it"));
    }
    if (scan.all_binary) {
      result.schema.features.push_back(data::BinaryColumn(scan.name));
    } else if (scan.all_numeric) {
      result.schema.features.push_back(data::NumericColumn(scan.name));
    } else if (scan.distinct.size() > kMaxCategories) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--data ", first, ": column `", scan.name, "` has more than ", kMaxCategories,
          " distinct values that are not all numbers, too many for a categorical feature; "
          "remove it or recode it"));
    } else {
      result.schema.features.push_back(data::CategoricalColumn(
          scan.name, std::vector<std::string>(scan.distinct.begin(), scan.distinct.end())));
    }
  }

  // Every other file must match.
  for (size_t s = 1; s < paths.size(); ++s) {
    const std::string& name = paths[s];
    TESSERA_ASSIGN_OR_RETURN(CsvFile file, OpenCsv(name, result.sites[s].path));
    for (const std::string& column : columns) {
      if (file.column_index.count(column) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--data ", name, ": column `", column, "` is missing (", first,
                         " has it; every site needs the same columns)"));
      }
    }
    for (const std::string& column : file.reader->columns()) {
      if (head.column_index.count(column) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--data ", name, ": column `", column, "` is not in ", first,
                         " (the schema comes from the first --data file; every site needs the "
                         "same columns)"));
      }
    }
    const size_t label_at = file.column_index[label];
    int64_t count = 0;
    labels[0] = labels[1] = 0;
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(bool more, file.reader->Next(&record));
      if (!more) break;
      if (record.defect != data::RecordDefect::kNone) continue;
      ++count;
      if (auto text = Cell(record, label_at); text.has_value()) {
        TESSERA_RETURN_IF_ERROR(CheckLabelCell(label, name, record, *text, labels));
      }
      for (const data::ColumnSpec& feature : result.schema.features) {
        auto text = Cell(record, file.column_index[feature.name]);
        if (!text.has_value()) continue;
        bool fits = true;
        switch (feature.type) {
          case ColumnType::kBinary:
            fits = data::ParseBinary(*text).has_value();
            break;
          case ColumnType::kNumeric:
            fits = IsNumber(*text);
            break;
          case ColumnType::kCategorical:
            fits = std::find(feature.categories.begin(), feature.categories.end(), *text) !=
                   feature.categories.end();
            break;
        }
        if (!fits) {
          const std::string expected =
              feature.type == ColumnType::kCategorical
                  ? absl::StrCat("one of the ", feature.categories.size(), " categories in ", first)
                  : absl::StrCat(TypeText(feature.type), " as in ", first);
          return absl::InvalidArgumentError(absl::StrCat(
              "--data ", name, " line ", record.line, ": column `", feature.name,
              "` does not match the schema inferred from the first --data file (expected ",
              expected, ")"));
        }
      }
    }
    if (count == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data ", name, ": the file has no records (a site needs at least one)"));
    }
    TESSERA_RETURN_IF_ERROR(CheckLabelCount(label, name, labels, all_labels));
    result.sites[s].records = count;
  }
  if (all_labels[0] == 0 || all_labels[1] == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--label ", label, ": every record of every site has the label ",
                     all_labels[0] == 0 ? 1 : 0, "; a binary model needs both classes"));
  }
  return result;
}

namespace {

std::string TomlList(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& item : items) quoted.push_back(coordinator::TomlString(item));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

}  // namespace

std::string SimulationJobToml(const SimulationOptions& options, const SimulationData& data,
                              const SecAggPlan& plan) {
  std::string toml;
  absl::StrAppend(
      &toml, "# Written by `tessera simulate`.\n[job]\nname = \"simulation\"\n", "description = ",
      coordinator::TomlString(absl::StrCat("tessera simulate: ", data.sites.size(), " sites, label ", options.label)),
      "\ndataset = \"simulation\"\n\n[model]\n");
  if (options.model == "logistic" || options.model == "mlp") {
    absl::StrAppend(&toml, "kind = \"", options.model, "\"\n");
    if (options.model == "mlp") {
      absl::StrAppend(&toml, "hidden = [", absl::StrJoin(options.hidden, ", "), "]\n");
    }
  } else {
    absl::StrAppend(&toml, "kind = \"torchscript\"\nfile = ",
                    coordinator::TomlString(std::filesystem::absolute(options.model).lexically_normal().string()),
                    "\n");
  }
  std::vector<std::string> features;
  for (const auto& feature : data.schema.features) features.push_back(feature.name);
  absl::StrAppend(
      &toml, "\n[schema]\nlabel = ", coordinator::TomlString(options.label), "\nfeatures = ", TomlList(features),
      "\nmissing = \"skip\"\nmissing_values = ", TomlList(data.schema.missing_values), "\n");
  for (const auto& feature : data.schema.features) {
    absl::StrAppend(&toml, "[schema.columns.", coordinator::TomlString(feature.name), "]\ntype = \"",
                    TypeText(feature.type), "\"\n");
    if (feature.type == ColumnType::kCategorical) {
      absl::StrAppend(&toml, "categories = ", TomlList(feature.categories), "\n");
    }
  }
  absl::StrAppend(&toml, "[schema.columns.", coordinator::TomlString(options.label), "]\ntype = \"binary\"\n");
  absl::StrAppendFormat(&toml, "\n[split]\nholdout_fraction = %.17g\nseed = %d\n", options.holdout,
                        options.seed % (uint64_t{1} << 62));
  absl::StrAppendFormat(&toml,
                        "\n[training]\noptimizer = \"%s\"\nlearning_rate = %.17g\n"
                        "local_epochs = %d\nbatch_size = %d\n",
                        options.optimizer, options.learning_rate, options.local_epochs,
                        options.batch_size);
  const int64_t attempts = options.dropout > 0 ? 5 : 3;
  absl::StrAppendFormat(&toml,
                        "\n[rounds]\ncount = %d\nmin_sites = %d\nmax_sites = %d\n"
                        "stage_timeout_seconds = %d\nmax_attempts = %d\n",
                        options.rounds, plan.min_sites, plan.max_sites,
                        options.stage_timeout_seconds, attempts);
  absl::StrAppend(&toml, "\n[privacy]\nmode = \"", options.privacy, "\"\n");
  if (options.privacy != "none") {
    absl::StrAppendFormat(&toml, "epsilon = %.17g\ndelta = %.17g\nclip_norm = %.17g\n",
                          options.epsilon.value_or(kDefaultEpsilon),
                          options.delta.value_or(kDefaultDelta), options.clip_norm);
  }
  absl::StrAppendFormat(&toml, "\n[secure_aggregation]\nthreshold = %d\nneighbours = 0\n",
                        plan.threshold);
  return toml;
}

}  // namespace tessera::cli
