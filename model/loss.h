// The training losses, computed on a model's raw outputs in plain C++ so
// that built-in and TorchScript models share one definition: each backend
// produces outputs and back-propagates the d loss / d outputs given here.
//
// Targets are one float per example:
//  - kBinaryCrossEntropyWithLogits: one output (a logit); target in [0, 1]
//    (0/1 labels). Loss max(z,0) - z*y + log(1 + exp(-|z|)), the stable form
//    of -[y log s(z) + (1-y) log(1 - s(z))] that PyTorch's
//    BCEWithLogitsLoss uses; d/dz = s(z) - y with s the logistic sigmoid.
//  - kCrossEntropy: K >= 2 outputs (logits); target a class index 0..K-1
//    stored as an exact integer. Loss logsumexp(z) - z_y (PyTorch's
//    CrossEntropyLoss); d/dz = softmax(z) - onehot(y).
//  - kMeanSquaredError: one output; any finite target. Loss (z - y)^2 per
//    example (PyTorch's MSELoss per element); d/dz = 2 (z - y).
// Losses are summed here; callers divide by the number of examples when
// they want PyTorch's default "mean" reduction.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::model {

enum class LossKind {
  kBinaryCrossEntropyWithLogits,
  kCrossEntropy,
  kMeanSquaredError,
};

// "bce_with_logits", "cross_entropy" or "mse".
std::string LossKindName(LossKind kind);
// The inverse of LossKindName; INVALID_ARGUMENT listing the known names.
absl::StatusOr<LossKind> ParseLossKind(absl::string_view name);

// OK when a model with `outputs` outputs can be trained with `kind`
// (one output for BCE and MSE, at least two for cross-entropy) and every
// target is valid for it (see above). INVALID_ARGUMENT naming the first bad
// target's row otherwise (never its value: targets are patient data).
absl::Status ValidateTargets(LossKind kind, int64_t outputs, const Eigen::VectorXf& targets);

// For a batch of `outputs` (rows = examples) and their `targets` (already
// validated), returns the sum of the per-example losses and, when the
// pointers are not null, writes each example's loss to `per_example` and
// d loss_i / d outputs_i to row i of `d_outputs`.
double ComputeLoss(LossKind kind, const Eigen::MatrixXf& outputs,
                   const Eigen::Ref<const Eigen::VectorXf>& targets, Eigen::MatrixXf* d_outputs,
                   Eigen::VectorXd* per_example = nullptr);

}  // namespace tessera::model
