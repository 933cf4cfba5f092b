#include "coordinator/strategy/federated_metrics.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "model/roc_auc.h"

namespace tessera::coordinator::strategy {
namespace {

// Largest count kept exactly by a double; a bin beyond it is not a count.
constexpr double kMaxBinCount = 9007199254740992.0;  // 2^53

// Noisy bin sums as whole, non-negative counts (see the header).
absl::StatusOr<std::vector<int64_t>> WholeCounts(absl::Span<const float> bins,
                                                 absl::string_view name) {
  std::vector<int64_t> counts(bins.size());
  for (size_t b = 0; b < bins.size(); ++b) {
    const double value = bins[b];
    if (value > kMaxBinCount) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram `", name, "` bin ", b, " is above 2^53; it is not a count"));
    }
    counts[b] = value > 0 ? std::llround(value) : 0;
  }
  return counts;
}

}  // namespace

absl::StatusOr<FederatedMetrics> ComputeFederatedMetrics(const AggregateLayout& layout,
                                                         absl::Span<const float> aggregate) {
  TESSERA_RETURN_IF_ERROR(layout.CheckFinite(aggregate));
  if (!layout.Has(kEvalCountSlot)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the aggregate layout has no `", kEvalCountSlot, "` slot; it is ", layout.Describe()));
  }
  FederatedMetrics metrics;
  TESSERA_ASSIGN_OR_RETURN(metrics.examples, layout.ReadSlot(aggregate, kEvalCountSlot));
  if (!(metrics.examples > 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", kEvalCountSlot, "` is ", metrics.examples,
                     ": no site evaluated any example this round"));
  }
  if (layout.Has(kEvalLossSumSlot)) {
    TESSERA_ASSIGN_OR_RETURN(const double loss_sum, layout.ReadSlot(aggregate, kEvalLossSumSlot));
    metrics.mean_loss = loss_sum / metrics.examples;
  }
  if (layout.Has(kEvalCorrectSlot)) {
    TESSERA_ASSIGN_OR_RETURN(const double correct, layout.ReadSlot(aggregate, kEvalCorrectSlot));
    metrics.accuracy = correct / metrics.examples;
  }

  const bool has_positive = layout.Has(kEvalHistogramPositiveBlock);
  const bool has_negative = layout.Has(kEvalHistogramNegativeBlock);
  if (has_positive != has_negative) {
    return absl::FailedPreconditionError(
        absl::StrCat("the aggregate layout has only one of the histograms `",
                     kEvalHistogramPositiveBlock, "` and `", kEvalHistogramNegativeBlock, "`"));
  }
  if (!has_positive) return metrics;
  TESSERA_ASSIGN_OR_RETURN(absl::Span<const float> positive_bins,
                           layout.ReadBlock(aggregate, kEvalHistogramPositiveBlock));
  TESSERA_ASSIGN_OR_RETURN(absl::Span<const float> negative_bins,
                           layout.ReadBlock(aggregate, kEvalHistogramNegativeBlock));
  if (positive_bins.size() != negative_bins.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the score histograms have ", positive_bins.size(), " and ",
                     negative_bins.size(), " bins; they must have the same bins"));
  }
  TESSERA_ASSIGN_OR_RETURN(const std::vector<int64_t> positives,
                           WholeCounts(positive_bins, kEvalHistogramPositiveBlock));
  TESSERA_ASSIGN_OR_RETURN(const std::vector<int64_t> negatives,
                           WholeCounts(negative_bins, kEvalHistogramNegativeBlock));
  absl::StatusOr<double> auc = model::RocAucFromHistograms(negatives, positives);
  if (auc.ok()) {
    metrics.roc_auc = *auc;
  } else if (auc.status().code() != absl::StatusCode::kFailedPrecondition) {
    // FAILED_PRECONDITION means one class is absent: the AUC is undefined.
    return auc.status();
  }
  return metrics;
}

}  // namespace tessera::coordinator::strategy
