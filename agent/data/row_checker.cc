#include "agent/data/row_checker.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace tessera::agent::data {
namespace {

// Column lists in messages stop after this many names.
constexpr size_t kColumnsListed = 20;

std::string ListColumns(const std::vector<std::string>& columns) {
  if (columns.size() <= kColumnsListed) return absl::StrJoin(columns, ", ");
  std::vector<std::string> head(columns.begin(),
                                columns.begin() + static_cast<std::ptrdiff_t>(kColumnsListed));
  return absl::StrCat(absl::StrJoin(head, ", "), ", and ", columns.size() - kColumnsListed,
                      " more");
}

}  // namespace

absl::StatusOr<RowChecker> RowChecker::Create(const Schema& schema, const RecordSource& source) {
  TESSERA_RETURN_IF_ERROR(ValidateSchema(schema));
  RowChecker checker;
  checker.missing_policy_ = schema.missing_policy;
  checker.source_columns_ = source.columns();
  for (const std::string& marker : schema.missing_values) {
    checker.missing_values_.emplace_back(absl::StripAsciiWhitespace(marker));
  }
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < source.columns().size(); ++i) index.emplace(source.columns()[i], i);

  // Names of schema columns the source lacks, each with the source column
  // that differs only in letter case, if any.
  std::vector<std::pair<std::string, std::string>> missing;
  bool any_column_known = false;
  auto bind = [&](const ColumnSpec& spec) {
    BoundColumn column;
    column.spec = spec;
    if (auto it = index.find(spec.name); it != index.end()) {
      column.source_index = it->second;
      any_column_known = true;
    } else {
      std::string other_case;
      for (const std::string& candidate : source.columns()) {
        if (absl::EqualsIgnoreCase(candidate, spec.name)) {
          other_case = candidate;
          any_column_known = true;
          break;
        }
      }
      missing.emplace_back(spec.name, std::move(other_case));
    }
    for (size_t c = 0; c < spec.categories.size(); ++c) {
      column.category_index.emplace(spec.categories[c], static_cast<int>(c));
    }
    if (spec.default_value.has_value()) {
      if (spec.type == ColumnType::kBinary) {
        column.default_value = *ParseBinary(*spec.default_value) ? 1.0 : 0.0;
      } else if (spec.type == ColumnType::kCategorical) {
        column.default_value = column.category_index.at(*spec.default_value);
      }
    }
    return column;
  };
  for (const ColumnSpec& feature : schema.features) checker.features_.push_back(bind(feature));
  checker.label_ = bind(schema.label);
  if (missing.empty()) return checker;
  const bool sqlite = source.kind() == DatasetKind::kSqlite;
  if (!any_column_known) {
    // Then the "header" may well be a first row of data (a CSV file written
    // without one): its names are not repeated, as they may be values.
    std::vector<std::string> wanted;
    for (const auto& [name, unused] : missing) wanted.push_back(name);
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset `", source.dataset(), "` has none of the columns the job reads (",
        ListColumns(wanted), "); ",
        sqlite ? "the query must return columns with these names"
               : "the first line of the file must be a header row naming the columns"));
  }
  std::vector<std::string> lines;
  for (const auto& [name, other_case] : missing) {
    std::string line = absl::StrCat("column `", name, "` is missing from dataset `",
                                    source.dataset(), "` (", sqlite ? "query returns" : "file has",
                                    ": ", ListColumns(source.columns()), ")");
    if (!other_case.empty()) absl::StrAppend(&line, "; did you mean `", other_case, "`?");
    lines.push_back(std::move(line));
  }
  return absl::FailedPreconditionError(absl::StrJoin(lines, "\n"));
  return checker;
}

bool RowChecker::ParseCell(const BoundColumn& column, const Record& record, double* value,
                           Problem* problem) const {
  switch (record.cells[column.source_index]) {
    case CellState::kValue: break;
    case CellState::kMissing: *problem = Problem::kMissing; return false;
    case CellState::kInvalidUtf8: *problem = Problem::kInvalidUtf8; return false;
    case CellState::kBlob: *problem = Problem::kBlob; return false;
  }
  const absl::string_view text = absl::StripAsciiWhitespace(record.values[column.source_index]);
  if (text.empty()) {
    *problem = Problem::kMissing;
    return false;
  }
  for (const std::string& marker : missing_values_) {
    if (text == marker) {
      *problem = Problem::kMissing;
      return false;
    }
  }
  const ColumnSpec& spec = column.spec;
  switch (spec.type) {
    case ColumnType::kNumeric: {
      double number = 0;
      if (!absl::SimpleAtod(text, &number) || std::isnan(number)) {
        *problem = Problem::kNotANumber;
        return false;
      }
      if (std::isinf(number) || number < spec.min || number > spec.max) {
        *problem = Problem::kOutOfRange;
        return false;
      }
      *value = number;
      return true;
    }
    case ColumnType::kBinary: {
      const std::optional<bool> bit = ParseBinary(text);
      if (!bit.has_value()) {
        *problem = Problem::kNotBinary;
        return false;
      }
      *value = *bit ? 1.0 : 0.0;
      return true;
    }
    case ColumnType::kCategorical: {
      auto it = column.category_index.find(text);
      if (it == column.category_index.end()) {
        *problem = Problem::kUnknownCategory;
        return false;
      }
      *value = it->second;
      return true;
    }
  }
  return false;
}

bool RowChecker::Check(const Record& record, CheckedRow* row, DataReport* report) const {
  if (record.defect == RecordDefect::kWrongFieldCount) {
    report->AddIssue(record.line, "", Problem::kWrongFieldCount, /*imputed=*/false);
    return false;
  }
  if (record.defect == RecordDefect::kBadQuoting) {
    const std::string column = record.defect_detail < source_columns_.size()
                                   ? source_columns_[record.defect_detail]
                                   : std::string();
    report->AddIssue(record.line, column, Problem::kBadQuoting, /*imputed=*/false);
    return false;
  }
  // The label first: a record without one is skipped, and then none of its
  // other problems counts as imputed.
  Problem label_problem = Problem::kMissing;
  bool usable = ParseCell(label_, record, &row->label, &label_problem);
  if (!usable) report->AddIssue(record.line, label_.spec.name, label_problem, /*imputed=*/false);
  const bool impute = usable && missing_policy_ == MissingPolicy::kImpute;
  row->features.resize(features_.size());
  for (size_t f = 0; f < features_.size(); ++f) {
    const BoundColumn& column = features_[f];
    double value = 0;
    Problem problem = Problem::kMissing;
    if (!ParseCell(column, record, &value, &problem)) {
      report->AddIssue(record.line, column.spec.name, problem, impute);
      if (!impute) {
        usable = false;
      } else if (column.spec.type == ColumnType::kNumeric) {
        value = std::numeric_limits<double>::quiet_NaN();
      } else {
        value = column.default_value;
      }
    }
    row->features[f] = value;
  }
  return usable;
}

absl::StatusOr<DataReport> ScanDataset(
    RecordSource& source, const Schema& schema, const SplitConfig& split,
    const std::function<void(const CheckedRow& row, bool holdout)>& visit) {
  TESSERA_ASSIGN_OR_RETURN(RowChecker checker, RowChecker::Create(schema, source));
  DataReport report(source.dataset(), source.kind());
  Record record;
  CheckedRow row;
  for (;;) {
    TESSERA_ASSIGN_OR_RETURN(bool more, source.Next(&record));
    if (!more) break;
    const bool used = checker.Check(record, &row, &report);
    const bool holdout = IsHoldout(split, record.index);
    report.CountRecord(used, holdout);
    if (used) visit(row, holdout);
  }
  return report;
}

}  // namespace tessera::agent::data
