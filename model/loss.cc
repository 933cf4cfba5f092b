#include "model/loss.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::model {
namespace {

double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

absl::Status BadTarget(Eigen::Index row, absl::string_view requirement) {
  return absl::InvalidArgumentError(
      absl::StrCat("target of example ", row, " is not ", requirement));
}

}  // namespace

std::string LossKindName(LossKind kind) {
  switch (kind) {
    case LossKind::kBinaryCrossEntropyWithLogits:
      return "bce_with_logits";
    case LossKind::kCrossEntropy:
      return "cross_entropy";
    case LossKind::kMeanSquaredError:
      return "mse";
  }
  return "unknown";
}

absl::StatusOr<LossKind> ParseLossKind(absl::string_view name) {
  for (LossKind kind : {LossKind::kBinaryCrossEntropyWithLogits, LossKind::kCrossEntropy,
                        LossKind::kMeanSquaredError}) {
    if (name == LossKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown loss `", name, "`; use bce_with_logits, cross_entropy or mse"));
}

absl::Status ValidateTargets(LossKind kind, int64_t outputs, const Eigen::VectorXf& targets) {
  const std::string name = LossKindName(kind);
  if (kind == LossKind::kCrossEntropy) {
    if (outputs < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("loss ", name, " needs a model with at least 2 outputs (one logit per "
                       "class); this model has ", outputs));
    }
  } else if (outputs != 1) {
    return absl::InvalidArgumentError(absl::StrCat("loss ", name,
                                                   " needs a model with exactly 1 output; this "
                                                   "model has ", outputs));
  }
  for (Eigen::Index i = 0; i < targets.size(); ++i) {
    const float y = targets[i];
    switch (kind) {
      case LossKind::kBinaryCrossEntropyWithLogits:
        if (!(y >= 0.0f && y <= 1.0f)) return BadTarget(i, "in [0, 1] (a 0/1 label)");
        break;
      case LossKind::kCrossEntropy:
        if (!(y >= 0.0f && y < static_cast<float>(outputs) && std::floor(y) == y)) {
          return BadTarget(i, absl::StrCat("a class index from 0 to ", outputs - 1));
        }
        break;
      case LossKind::kMeanSquaredError:
        if (!std::isfinite(y)) return BadTarget(i, "a finite number");
        break;
    }
  }
  return absl::OkStatus();
}

double ComputeLoss(LossKind kind, const Eigen::MatrixXf& outputs,
                   const Eigen::Ref<const Eigen::VectorXf>& targets, Eigen::MatrixXf* d_outputs,
                   Eigen::VectorXd* per_example) {
  const Eigen::Index rows = outputs.rows();
  if (d_outputs != nullptr) d_outputs->resize(rows, outputs.cols());
  if (per_example != nullptr) per_example->resize(rows);
  double total = 0.0;
  for (Eigen::Index i = 0; i < rows; ++i) {
    const double y = targets[i];
    double loss = 0.0;
    switch (kind) {
      case LossKind::kBinaryCrossEntropyWithLogits: {
        const double z = outputs(i, 0);
        loss = std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
        if (d_outputs != nullptr) (*d_outputs)(i, 0) = static_cast<float>(Sigmoid(z) - y);
        break;
      }
      case LossKind::kCrossEntropy: {
        const auto label = static_cast<Eigen::Index>(y);
        const double max = outputs.row(i).maxCoeff();
        double sum = 0.0;
        for (Eigen::Index k = 0; k < outputs.cols(); ++k) sum += std::exp(outputs(i, k) - max);
        const double log_sum_exp = max + std::log(sum);
        loss = log_sum_exp - outputs(i, label);
        if (d_outputs != nullptr) {
          for (Eigen::Index k = 0; k < outputs.cols(); ++k) {
            (*d_outputs)(i, k) = static_cast<float>(std::exp(outputs(i, k) - log_sum_exp) -
                                                    (k == label ? 1.0 : 0.0));
          }
        }
        break;
      }
      case LossKind::kMeanSquaredError: {
        const double diff = outputs(i, 0) - y;
        loss = diff * diff;
        if (d_outputs != nullptr) (*d_outputs)(i, 0) = static_cast<float>(2.0 * diff);
        break;
      }
    }
    if (per_example != nullptr) (*per_example)[i] = loss;
    total += loss;
  }
  return total;
}

}  // namespace tessera::model
