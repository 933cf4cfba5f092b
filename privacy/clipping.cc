#include "privacy/clipping.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::privacy {
namespace {

constexpr double kSafetyFactor = 1 - 1e-6;

}  // namespace

double L2Norm(absl::Span<const float> values) {
  double sum = 0;
  for (float v : values) sum += static_cast<double>(v) * static_cast<double>(v);
  return std::sqrt(sum);
}

absl::StatusOr<ClipResult> ClipL2(absl::Span<float> values, double clip_norm) {
  if (!(clip_norm > 0) || !std::isfinite(clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip norm must be finite and > 0, got ", clip_norm));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("update value at index ", i, " is not finite (NaN or infinity)"));
    }
  }
  ClipResult result;
  result.norm = L2Norm(values);
  if (result.norm <= clip_norm) return result;
  result.scale = clip_norm / result.norm * kSafetyFactor;
  for (float& v : values) v = static_cast<float>(static_cast<double>(v) * result.scale);
  return result;
}

absl::StatusOr<ClipResult> ClipL2(Eigen::VectorXf& values, double clip_norm) {
  return ClipL2(absl::MakeSpan(values.data(), static_cast<size_t>(values.size())), clip_norm);
}

}  // namespace tessera::privacy
