#include "agent/data/encoder.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace tessera::agent::data {
namespace {

// Rows are gathered row-major while streaming, then copied once into the
// column-major Eigen matrix.
struct PartBuilder {
  std::vector<float> features;
  std::vector<float> labels;

  EncodedPart Build(size_t width) const {
    EncodedPart part;
    const auto rows = static_cast<Eigen::Index>(labels.size());
    part.features = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic,
                                                   Eigen::RowMajor>>(
        features.data(), rows, static_cast<Eigen::Index>(width));
    part.labels = Eigen::Map<const Eigen::VectorXf>(labels.data(), rows);
    return part;
  }
};

absl::Status CheckStandardization(const Schema& schema, const Standardization& standardization) {
  const std::vector<std::string> numeric = NumericFeatureNames(schema);
  if (standardization.columns != numeric || standardization.mean.size() != numeric.size() ||
      standardization.stddev.size() != numeric.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the standardisation is for columns [", absl::StrJoin(standardization.columns, ", "),
        "] but the schema's numeric features are [", absl::StrJoin(numeric, ", "), "]"));
  }
  for (size_t k = 0; k < numeric.size(); ++k) {
    if (!std::isfinite(standardization.mean[k]) || !std::isfinite(standardization.stddev[k]) ||
        standardization.stddev[k] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the standardisation of column `", numeric[k],
          "` needs a finite mean and a positive, finite standard deviation"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> FeatureNames(const Schema& schema) {
  std::vector<std::string> names;
  for (const ColumnSpec& feature : schema.features) {
    if (feature.type == ColumnType::kCategorical) {
      for (const std::string& category : feature.categories) {
        names.push_back(absl::StrCat(feature.name, "=", category));
      }
    } else {
      names.push_back(feature.name);
    }
  }
  return names;
}

void EncodeRow(const Schema& schema, const Standardization& standardization,
               const CheckedRow& row, float* out) {
  size_t numeric = 0;
  for (size_t f = 0; f < schema.features.size(); ++f) {
    const ColumnSpec& feature = schema.features[f];
    const double value = row.features[f];
    switch (feature.type) {
      case ColumnType::kNumeric: {
        const double z = std::isnan(value) ? 0.0
                                           : (value - standardization.mean[numeric]) /
                                                 standardization.stddev[numeric];
        *out++ = static_cast<float>(z);
        ++numeric;
        break;
      }
      case ColumnType::kBinary:
        *out++ = static_cast<float>(value);
        break;
      case ColumnType::kCategorical: {
        const auto hot = static_cast<size_t>(value);
        for (size_t c = 0; c < feature.categories.size(); ++c) *out++ = c == hot ? 1.0f : 0.0f;
        break;
      }
    }
  }
}

absl::StatusOr<EncodedDataset> EncodeDataset(RecordSource& source, const Schema& schema,
                                             const SplitConfig& split,
                                             const Standardization& standardization) {
  TESSERA_RETURN_IF_ERROR(CheckStandardization(schema, standardization));
  EncodedDataset result;
  result.feature_names = FeatureNames(schema);
  const size_t width = result.feature_names.size();
  PartBuilder training;
  PartBuilder holdout;
  TESSERA_ASSIGN_OR_RETURN(
      result.report, ScanDataset(source, schema, split, [&](const CheckedRow& row, bool is_holdout) {
        PartBuilder& part = is_holdout ? holdout : training;
        const size_t offset = part.features.size();
        part.features.resize(offset + width);
        EncodeRow(schema, standardization, row, part.features.data() + offset);
        part.labels.push_back(static_cast<float>(row.label));
      }));
  result.training = training.Build(width);
  result.holdout = holdout.Build(width);
  return result;
}

}  // namespace tessera::agent::data
