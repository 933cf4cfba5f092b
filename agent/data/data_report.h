// What happened to a dataset's records when they were checked against a
// job's schema: how many were read, used, skipped and imputed, and why, by
// column and by line. The agent logs it and sends it with its task result.
//
// It holds counts, line numbers, column names and reasons, and never a
// value from the data: it may leave the trust.
//
// Thread-safety: a plain value; not safe to mutate from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/data/record_source.h"

namespace tessera::agent::data {

enum class Problem : uint8_t {
  // The record as a whole (never imputed).
  kWrongFieldCount,  // CSV: more or fewer fields than the header
  kBadQuoting,       // CSV: a quote in an unquoted field, or text after a closing quote
  // One cell of a column the schema reads.
  kInvalidUtf8,      // bytes that are not UTF-8
  kBlob,             // an SQLite BLOB
  kMissing,          // empty, NULL, or one of the schema's missing_values
  kNotANumber,       // a numeric column holding something else
  kOutOfRange,       // a number outside the column's [min, max] (or infinite)
  kNotBinary,        // a binary column holding something other than 0/1, true/false, yes/no
  kUnknownCategory,  // a categorical column holding a value not in its categories
};

// A short reason for people: "wrong number of fields", "not a number", ...
absl::string_view ProblemName(Problem problem);

// One problem found in one record.
struct RowIssue {
  int64_t line = 0;    // where the record starts (see Record::line)
  std::string column;  // empty for record-wide problems
  Problem problem = Problem::kMissing;
  bool imputed = false;  // the value was imputed rather than the record skipped
};

// How often one problem was seen in one column.
struct ProblemCount {
  std::string column;  // empty for record-wide problems
  Problem problem = Problem::kMissing;
  int64_t count = 0;
  int64_t imputed = 0;     // of `count`, how many were imputed
  int64_t first_line = 0;  // the first record where it was seen
};

class DataReport {
 public:
  // At most this many RowIssues are kept (the counts are always complete).
  static constexpr size_t kMaxIssues = 1000;

  DataReport() = default;
  DataReport(std::string dataset, DatasetKind kind) : dataset_(std::move(dataset)), kind_(kind) {}

  // Recording, used by the row checks.
  void AddIssue(int64_t line, absl::string_view column, Problem problem, bool imputed);
  void CountRecord(bool used, bool holdout);

  const std::string& dataset() const { return dataset_; }
  DatasetKind kind() const { return kind_; }
  int64_t records_read() const { return records_read_; }
  // Records used (possibly with imputed values), split into training and hold-out.
  int64_t records_used() const { return training_records_ + holdout_records_; }
  int64_t training_records() const { return training_records_; }
  int64_t holdout_records() const { return holdout_records_; }
  int64_t records_skipped() const { return records_skipped_; }
  int64_t values_imputed() const { return values_imputed_; }
  // Every (column, problem) seen, ordered by column then problem.
  std::vector<ProblemCount> problem_counts() const;
  // The first kMaxIssues problems in reading order, and how many were left out.
  const std::vector<RowIssue>& issues() const { return issues_; }
  int64_t issues_not_listed() const { return issues_not_listed_; }

  // One line for the log, e.g.
  //   dataset `diabetes`: 1000 records read, 990 used (792 training, 198
  //   hold-out), 10 skipped, 3 values imputed; `hba1c`: 7 not a number
  //   (first at line 12, 3 imputed); 2 wrong number of fields (first at line 40)
  std::string Summary() const;

 private:
  std::string dataset_;
  DatasetKind kind_ = DatasetKind::kCsv;
  int64_t records_read_ = 0;
  int64_t training_records_ = 0;
  int64_t holdout_records_ = 0;
  int64_t records_skipped_ = 0;
  int64_t values_imputed_ = 0;
  std::map<std::pair<std::string, Problem>, ProblemCount> counts_;
  std::vector<RowIssue> issues_;
  int64_t issues_not_listed_ = 0;
};

}  // namespace tessera::agent::data
