// L2 clipping of a flat update: the step that bounds each contribution's
// sensitivity before noise is added (Abadi et al. 2016, Algorithm 1; McMahan
// et al. 2018, DP-FedAvg).
//
// Thread-safety: pure functions (they modify only the span passed in).
#pragma once

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::privacy {

struct ClipResult {
  double norm = 0;   // L2 norm before clipping
  double scale = 1;  // factor applied (1 when the update was within the bound)
};

// Scales `values` in place so that their L2 norm is at most clip_norm.
// Updates above the bound are scaled to a relative 1e-6 below it, so that
// float rounding can never leave the result above clip_norm.
// INVALID_ARGUMENT if clip_norm is not finite and > 0, or if a value is NaN or
// infinite (the message gives its index, never the value).
absl::StatusOr<ClipResult> ClipL2(absl::Span<float> values, double clip_norm);
absl::StatusOr<ClipResult> ClipL2(Eigen::VectorXf& values, double clip_norm);

// The L2 norm, accumulated in double.
double L2Norm(absl::Span<const float> values);

}  // namespace tessera::privacy
