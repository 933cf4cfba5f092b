// Federation-wide standardisation of numeric features.
//
// Means and variances come from all sites together, through secure
// aggregation, in a statistics round before training:
//   1. each site computes its local sufficient statistics over its training
//      records (ComputeLocalStatistics) and submits the vector to secure
//      aggregation;
//   2. every site receives the sum over sites and turns it into means and
//      standard deviations (StandardizationFromSums);
//   3. each site encodes its records with them (encoder.h).
// Pooled moments follow from the summed per-site counts, sums and sums of
// squares: mean = S1 / n and variance = S2 / n - mean^2 (population variance,
// dividing by n, as scikit-learn's StandardScaler does).
//
// Layout of the statistics vector: for the k-th numeric feature of the
// schema (binary and categorical features are not standardised, the label is
// not either), in schema order,
//   [3k]     number of values (records with a usable value in that column)
//   [3k + 1] sum of the values
//   [3k + 2] sum of the squared values
// Values that are imputed are not counted: the mean is over observed values.
//
// Thread-safety: plain values and functions.
#pragma once

#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "agent/data/data_report.h"
#include "agent/data/record_source.h"
#include "agent/data/schema.h"
#include "agent/data/split.h"

namespace tessera::agent::data {

// The numeric features of `schema`, in schema order (the k of the layout).
std::vector<std::string> NumericFeatureNames(const Schema& schema);

struct LocalStatistics {
  Eigen::VectorXd sums;  // 3 x NumericFeatureNames(schema).size(), layout above
  DataReport report;     // the pass that produced them
};

// Reads `source` once and returns this site's statistics over its training
// records. Errors: those of ScanDataset.
absl::StatusOr<LocalStatistics> ComputeLocalStatistics(RecordSource& source, const Schema& schema,
                                                       const SplitConfig& split);

struct Standardization {
  std::vector<std::string> columns;  // NumericFeatureNames(schema)
  std::vector<double> mean;
  std::vector<double> stddev;  // > 0; 1 for a column that is constant
};

// Means and standard deviations from the federation-wide sums (the
// element-wise sum of every site's LocalStatistics::sums). A column whose
// variance is at most 1e-9 of the mean of its squares is treated as constant
// (stddev 1: centred only), which also absorbs the rounding of S2/n - mean^2.
// Errors: INVALID_ARGUMENT when the vector's length is not 3 x the number of
// numeric features or it holds a negative or non-finite entry;
// FAILED_PRECONDITION naming the column when no site had any value of it.
absl::StatusOr<Standardization> StandardizationFromSums(const Schema& schema,
                                                        const Eigen::VectorXd& aggregated);

}  // namespace tessera::agent::data
