// Checking a dataset's records against a job's schema.
//
// RowChecker binds a Schema to a RecordSource's columns (refusing a source
// that lacks a column the schema reads) and turns each Record into typed
// values, recording every problem in a DataReport by line and column, never
// with the value. ScanDataset runs the whole loop (read, check, split) for
// the statistics round and for encoding.
//
// Interpretation of a cell (after trimming ASCII spaces and tabs):
//   numeric     - a decimal number ("12", "-0.5", "1e3"); NaN is "not a
//                 number", an infinity or a value outside [min, max] is
//                 "out of range";
//   binary      - 1/true/yes -> 1 and 0/false/no -> 0, any letter case;
//   categorical - exactly one of the declared categories (case-sensitive).
// An empty cell, an SQL NULL or one of the schema's missing_values is
// missing. Columns the schema does not read are ignored entirely.
//
// Thread-safety: a RowChecker is immutable after Create; Check may be called
// concurrently with different rows and reports.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "agent/data/data_report.h"
#include "agent/data/record_source.h"
#include "agent/data/schema.h"
#include "agent/data/split.h"

namespace tessera::agent::data {

// A record that passed the checks.
struct CheckedRow {
  // One value per schema feature, in schema order: the number (numeric), 0
  // or 1 (binary), or the index into the column's categories (categorical).
  // NaN marks a numeric feature to impute with the federation-wide mean.
  std::vector<double> features;
  double label = 0;  // 0/1 for a binary label
};

class RowChecker {
 public:
  // Binds `schema` to `source`'s columns. Errors: INVALID_ARGUMENT when the
  // schema is invalid (ValidateSchema); FAILED_PRECONDITION when a column the
  // schema reads is not in the source, one line per missing column:
  //   column `hba1c` is missing from dataset `diabetes` (file has: age, sex)
  // (SQLite: "query returns:"), with "; did you mean `HbA1c`?" when a column
  // differs only in letter case. When none of the schema's columns is there
  // the source's names are not listed (a CSV file without a header row would
  // show its first record): the message names the columns the job reads.
  static absl::StatusOr<RowChecker> Create(const Schema& schema, const RecordSource& source);

  // Checks `record`. Returns true and fills `*row` when the record can be
  // used (possibly with imputed values); false when it must be skipped.
  // Every problem found is added to `*report` (all of them, not just the
  // first); the caller counts the record itself with CountRecord.
  bool Check(const Record& record, CheckedRow* row, DataReport* report) const;

 private:
  struct BoundColumn {
    ColumnSpec spec;
    size_t source_index = 0;
    absl::flat_hash_map<std::string, int> category_index;
    double default_value = 0;  // binary 0/1 or category index, when declared
  };
  RowChecker() = default;
  // Parses the cell of `column`; false (and `*problem`) when it is unusable.
  bool ParseCell(const BoundColumn& column, const Record& record, double* value,
                 Problem* problem) const;

  MissingPolicy missing_policy_ = MissingPolicy::kSkipRow;
  std::vector<std::string> source_columns_;
  std::vector<BoundColumn> features_;
  BoundColumn label_;
  std::vector<std::string> missing_values_;
};

// Reads every record of `source`, checks it against `schema`, assigns it to
// the training or hold-out part with `split`, and calls visit(row, holdout)
// for every usable record, in reading order. Returns the report of the whole
// pass. Errors: those of RowChecker::Create and RecordSource::Next.
absl::StatusOr<DataReport> ScanDataset(
    RecordSource& source, const Schema& schema, const SplitConfig& split,
    const std::function<void(const CheckedRow& row, bool holdout)>& visit);

}  // namespace tessera::agent::data
