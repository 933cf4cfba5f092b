// Federation-wide evaluation metrics from the evaluation slots of a decoded
// aggregate (see aggregate_layout.h): every slot is a sum over the sites, so
// the ratios below are the metrics of the federation's pooled hold-out data,
// while no site's own figures are ever seen.
//
//   mean loss = eval.loss_sum / eval.count
//   accuracy  = eval.correct / eval.count
//   ROC AUC   = P(score of a positive > score of a negative)
//               + 1/2 P(both in the same bin), from the summed histograms
//               eval.hist.pos / eval.hist.neg (Hanley & McNeil 1982, Eq. 1;
//               computed by model::RocAucFromHistograms, model/roc_auc.h).
//
// Under site-level differential privacy the slots carry noise, so the sums
// need not be whole or even non-negative: the ratios are reported as they
// come (accuracy may fall slightly outside [0, 1]), and each histogram bin
// is rounded to the nearest whole count with negative bins set to zero
// before the AUC is taken (post-processing, which costs no privacy).
//
// Thread-safety: stateless.
#pragma once

#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "coordinator/strategy/aggregate_layout.h"

namespace tessera::coordinator::strategy {

struct FederatedMetrics {
  double examples = 0;              // eval.count
  std::optional<double> mean_loss;  // when the layout has eval.loss_sum
  std::optional<double> accuracy;   // when the layout has eval.correct
  // When the layout has both histograms and they hold at least one positive
  // and one negative example; otherwise the AUC is undefined and absent.
  std::optional<double> roc_auc;
};

// The metrics of `aggregate` laid out by `layout`.
// INVALID_ARGUMENT when the aggregate has the wrong size or a NaN or
// infinite value anywhere, or a histogram bin above 2^53;
// FAILED_PRECONDITION when the layout has no eval.count slot, only one of
// the two histograms, or histograms of different lengths, or when
// eval.count is not positive (no site evaluated anything).
absl::StatusOr<FederatedMetrics> ComputeFederatedMetrics(const AggregateLayout& layout,
                                                         absl::Span<const float> aggregate);

}  // namespace tessera::coordinator::strategy
