#include "agent/data/statistics.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/data/row_checker.h"
#include "common/status.h"

namespace tessera::agent::data {
namespace {

constexpr double kConstantColumnRelativeVariance = 1e-9;

}  // namespace

std::vector<std::string> NumericFeatureNames(const Schema& schema) {
  std::vector<std::string> names;
  for (const ColumnSpec& feature : schema.features) {
    if (feature.type == ColumnType::kNumeric) names.push_back(feature.name);
  }
  return names;
}

absl::StatusOr<LocalStatistics> ComputeLocalStatistics(RecordSource& source, const Schema& schema,
                                                       const SplitConfig& split) {
  std::vector<size_t> numeric;  // feature positions of the numeric features
  for (size_t f = 0; f < schema.features.size(); ++f) {
    if (schema.features[f].type == ColumnType::kNumeric) numeric.push_back(f);
  }
  Eigen::VectorXd sums = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(3 * numeric.size()));
  TESSERA_ASSIGN_OR_RETURN(
      DataReport report,
      ScanDataset(source, schema, split, [&](const CheckedRow& row, bool holdout) {
        if (holdout) return;
        for (size_t k = 0; k < numeric.size(); ++k) {
          const double value = row.features[numeric[k]];
          if (std::isnan(value)) continue;  // imputed: not an observation
          const auto base = static_cast<Eigen::Index>(3 * k);
          sums[base] += 1.0;
          sums[base + 1] += value;
          sums[base + 2] += value * value;
        }
      }));
  return LocalStatistics{std::move(sums), std::move(report)};
}

absl::StatusOr<Standardization> StandardizationFromSums(const Schema& schema,
                                                        const Eigen::VectorXd& aggregated) {
  Standardization result;
  result.columns = NumericFeatureNames(schema);
  const size_t k_count = result.columns.size();
  if (static_cast<size_t>(aggregated.size()) != 3 * k_count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "aggregated statistics have ", aggregated.size(), " entries; the schema's ", k_count,
        " numeric features need ", 3 * k_count, " (count, sum, sum of squares each)"));
  }
  for (size_t k = 0; k < k_count; ++k) {
    const auto base = static_cast<Eigen::Index>(3 * k);
    const double count = aggregated[base];
    const double sum = aggregated[base + 1];
    const double sum_squares = aggregated[base + 2];
    const std::string& name = result.columns[k];
    if (!std::isfinite(count) || !std::isfinite(sum) || !std::isfinite(sum_squares) ||
        count < 0 || sum_squares < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "aggregated statistics of column `", name, "` are negative or not finite"));
    }
    if (count < 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no site has any value of numeric column `", name,
          "` in its training records, so the federation cannot standardise it"));
    }
    const double mean = sum / count;
    const double mean_square = sum_squares / count;
    const double variance = mean_square - mean * mean;
    double stddev = 1.0;
    if (variance > kConstantColumnRelativeVariance * mean_square) stddev = std::sqrt(variance);
    result.mean.push_back(mean);
    result.stddev.push_back(stddev);
  }
  return result;
}

}  // namespace tessera::agent::data
