// ROC AUC of a binary classifier from score histograms, so that sites can
// report it under secure aggregation: each site counts its examples' scores
// (the positive-class probability) in fixed bins, separately for label 0 and
// label 1; the coordinator only ever sees the bin-wise sums over sites and
// computes the federation's AUC from them.
//
// With bins ordered by increasing score, the AUC is the Mann-Whitney
// statistic (Hanley & McNeil 1982, "The meaning and use of the area under a
// receiver operating characteristic (ROC) curve", Radiology 143:29-36,
// Eq. 1: AUC = P(score of a positive > score of a negative), ties counting
// one half), with scores in the same bin treated as tied:
//   AUC = sum_b pos[b] (sum_{a<b} neg[a] + neg[b] / 2) / (P N),
// which is also the trapezoidal area under the ROC curve traced by the bin
// edges (Fawcett 2006, "An introduction to ROC analysis", Pattern
// Recognition Letters 27:861-874, §7, Algorithm 3). It equals the exact AUC
// of the unbinned scores when no positive shares a bin with a negative, and
// differs from it by at most half the fraction of (positive, negative) pairs
// that share a bin.
//
// Pure C++ (no torch): usable by the coordinator.
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::model {

// The bin of `probability` among `bins` equal bins over [0, 1]:
// floor(probability * bins), with 1 (and anything above) in the last bin and
// anything below 0 or NaN in the first. Precondition: bins >= 1.
int64_t ScoreBin(double probability, int64_t bins);

// The ROC AUC from per-bin counts of negatives and positives (bins in
// increasing score order). INVALID_ARGUMENT when the two histograms differ in
// length, are empty or hold a negative count; FAILED_PRECONDITION when there
// is no positive or no negative example (the AUC is undefined).
absl::StatusOr<double> RocAucFromHistograms(absl::Span<const int64_t> negatives,
                                            absl::Span<const int64_t> positives);

}  // namespace tessera::model
