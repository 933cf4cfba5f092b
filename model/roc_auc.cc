#include "model/roc_auc.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::model {

int64_t ScoreBin(double probability, int64_t bins) {
  if (!(probability > 0.0)) return 0;  // also NaN
  if (probability >= 1.0) return bins - 1;
  const auto bin = static_cast<int64_t>(std::floor(probability * static_cast<double>(bins)));
  return bin < bins ? bin : bins - 1;
}

absl::StatusOr<double> RocAucFromHistograms(absl::Span<const int64_t> negatives,
                                            absl::Span<const int64_t> positives) {
  if (negatives.size() != positives.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the negative histogram has ",
                                                   negatives.size(), " bins but the positive one ",
                                                   positives.size()));
  }
  if (negatives.empty()) return absl::InvalidArgumentError("the score histograms have no bins");
  // Counts are summed in long double: products of two int64 sums can pass 2^63.
  long double negatives_below = 0;  // negatives in lower bins
  long double area = 0;             // sum_b pos[b] (negatives below + neg[b] / 2)
  long double total_positives = 0;
  for (size_t b = 0; b < negatives.size(); ++b) {
    if (negatives[b] < 0 || positives[b] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("score histogram bin ", b,
                                                     " has a negative count"));
    }
    const auto neg = static_cast<long double>(negatives[b]);
    const auto pos = static_cast<long double>(positives[b]);
    area += pos * (negatives_below + neg / 2);
    negatives_below += neg;
    total_positives += pos;
  }
  if (total_positives == 0 || negatives_below == 0) {
    return absl::FailedPreconditionError(
        "the ROC AUC needs at least one positive and one negative example");
  }
  return static_cast<double>(area / (total_positives * negatives_below));
}

}  // namespace tessera::model
