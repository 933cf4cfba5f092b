// Turning checked records into model inputs.
//
// Features, in schema order, expand to columns of the feature matrix:
//   numeric      -> one column "age": (x - mean) / stddev with the
//                   federation-wide Standardization (statistics.h); an
//                   imputed value becomes 0, the standardised mean;
//   binary       -> one column "smoker": 0 or 1;
//   categorical  -> one column per declared category, in declared order,
//                   "sex=female", "sex=male": one-hot (no category dropped).
// The label is 0/1 (binary) or the raw number (numeric; not standardised).
//
// Thread-safety: plain values and functions.
#pragma once

#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "agent/data/data_report.h"
#include "agent/data/record_source.h"
#include "agent/data/row_checker.h"
#include "agent/data/schema.h"
#include "agent/data/split.h"
#include "agent/data/statistics.h"

namespace tessera::agent::data {

// The names of the feature matrix's columns for `schema`, in order.
std::vector<std::string> FeatureNames(const Schema& schema);

struct EncodedPart {
  Eigen::MatrixXf features;  // one row per record, FeatureNames(schema) columns
  Eigen::VectorXf labels;    // one per record
};

struct EncodedDataset {
  std::vector<std::string> feature_names;
  EncodedPart training;
  EncodedPart holdout;
  DataReport report;
};

// Encodes one checked row into `out` (FeatureNames(schema).size() floats).
// Preconditions: `standardization` matches `schema` (as EncodeDataset checks)
// and `row` came from a RowChecker for `schema`.
void EncodeRow(const Schema& schema, const Standardization& standardization,
               const CheckedRow& row, float* out);

// Reads `source` once, checks every record against `schema` and encodes the
// usable ones into the training and hold-out parts given by `split`, in
// reading order. Errors: INVALID_ARGUMENT when `standardization` was not
// made for this schema's numeric features (or has a non-positive stddev);
// otherwise those of ScanDataset.
absl::StatusOr<EncodedDataset> EncodeDataset(RecordSource& source, const Schema& schema,
                                             const SplitConfig& split,
                                             const Standardization& standardization);

}  // namespace tessera::agent::data
