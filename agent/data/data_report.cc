#include "agent/data/data_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::agent::data {

absl::string_view ProblemName(Problem problem) {
  switch (problem) {
    case Problem::kWrongFieldCount: return "wrong number of fields";
    case Problem::kBadQuoting: return "bad quoting";
    case Problem::kInvalidUtf8: return "not valid UTF-8";
    case Problem::kBlob: return "binary data (BLOB)";
    case Problem::kMissing: return "missing value";
    case Problem::kNotANumber: return "not a number";
    case Problem::kOutOfRange: return "out of range";
    case Problem::kNotBinary: return "not binary";
    case Problem::kUnknownCategory: return "unknown category";
  }
  return "unknown problem";
}

void DataReport::AddIssue(int64_t line, absl::string_view column, Problem problem, bool imputed) {
  auto [it, inserted] = counts_.try_emplace({std::string(column), problem});
  ProblemCount& count = it->second;
  if (inserted) {
    count.column = std::string(column);
    count.problem = problem;
    count.first_line = line;
  }
  ++count.count;
  if (imputed) {
    ++count.imputed;
    ++values_imputed_;
  }
  if (issues_.size() < kMaxIssues) {
    issues_.push_back({line, std::string(column), problem, imputed});
  } else {
    ++issues_not_listed_;
  }
}

void DataReport::CountRecord(bool used, bool holdout) {
  ++records_read_;
  if (!used) {
    ++records_skipped_;
  } else if (holdout) {
    ++holdout_records_;
  } else {
    ++training_records_;
  }
}

std::vector<ProblemCount> DataReport::problem_counts() const {
  std::vector<ProblemCount> counts;
  counts.reserve(counts_.size());
  for (const auto& entry : counts_) counts.push_back(entry.second);
  return counts;
}

std::string DataReport::Summary() const {
  std::string summary = absl::StrCat(
      "dataset `", dataset_, "`: ", records_read_, " records read, ", records_used(), " used (",
      training_records_, " training, ", holdout_records_, " hold-out), ", records_skipped_,
      " skipped, ", values_imputed_, " values imputed");
  const absl::string_view noun = PositionNoun(kind_);
  std::vector<std::string> parts;
  for (const auto& entry : counts_) {
    const ProblemCount& count = entry.second;
    std::string part;
    if (!count.column.empty()) absl::StrAppend(&part, "`", count.column, "`: ");
    absl::StrAppend(&part, count.count, " ", ProblemName(count.problem), " (first at ", noun, " ",
                    count.first_line);
    if (count.imputed > 0) absl::StrAppend(&part, ", ", count.imputed, " imputed");
    absl::StrAppend(&part, ")");
    parts.push_back(std::move(part));
  }
  if (!parts.empty()) absl::StrAppend(&summary, "; ", absl::StrJoin(parts, "; "));
  return summary;
}

}  // namespace tessera::agent::data
