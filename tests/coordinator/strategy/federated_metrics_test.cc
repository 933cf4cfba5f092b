#include "coordinator/strategy/federated_metrics.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/roc_auc.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator::strategy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kFailedPrecondition = absl::StatusCode::kFailedPrecondition;

// A decoded aggregate for `layout` with the evaluation slots set.
std::vector<float> Aggregate(const AggregateLayout& layout, float loss_sum, float correct,
                             float count, const std::vector<float>& positives,
                             const std::vector<float>& negatives) {
  std::vector<float> aggregate(static_cast<size_t>(layout.size()), 0.0f);
  const absl::Span<float> span = absl::MakeSpan(aggregate);
  EXPECT_OK(layout.WriteSlot(span, kEvalLossSumSlot, loss_sum));
  EXPECT_OK(layout.WriteSlot(span, kEvalCorrectSlot, correct));
  EXPECT_OK(layout.WriteSlot(span, kEvalCountSlot, count));
  if (!positives.empty()) {
    absl::StatusOr<absl::Span<float>> pos = layout.MutableBlock(span, kEvalHistogramPositiveBlock);
    absl::StatusOr<absl::Span<float>> neg = layout.MutableBlock(span, kEvalHistogramNegativeBlock);
    EXPECT_OK(pos.status());
    EXPECT_OK(neg.status());
    std::copy(positives.begin(), positives.end(), pos->begin());
    std::copy(negatives.begin(), negatives.end(), neg->begin());
  }
  return aggregate;
}

TEST(FederatedMetricsTest, HandComputedLossAccuracyAndAuc) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(2, 4));
  // Bins in increasing score: negatives (3, 1, 1, 0), positives (0, 1, 1, 2);
  // P = 4, N = 5. Mann-Whitney with ties in a bin counting 1/2:
  //   bin 1: 1 positive × (3 negatives below + 1/2 × 1 in the bin) = 3.5
  //   bin 2: 1 × (4 + 1/2 × 1) = 4.5
  //   bin 3: 2 × (5 + 0) = 10
  // AUC = (3.5 + 4.5 + 10) / (4 × 5) = 18 / 20 = 0.9.
  const std::vector<float> aggregate =
      Aggregate(layout, 6.5f, 7.0f, 9.0f, {0, 1, 1, 2}, {3, 1, 1, 0});
  ASSERT_OK_AND_ASSIGN(FederatedMetrics metrics, ComputeFederatedMetrics(layout, aggregate));
  EXPECT_EQ(metrics.examples, 9.0);
  ASSERT_TRUE(metrics.mean_loss.has_value());
  EXPECT_DOUBLE_EQ(*metrics.mean_loss, 6.5 / 9.0);
  ASSERT_TRUE(metrics.accuracy.has_value());
  EXPECT_DOUBLE_EQ(*metrics.accuracy, 7.0 / 9.0);
  ASSERT_TRUE(metrics.roc_auc.has_value());
  EXPECT_DOUBLE_EQ(*metrics.roc_auc, 0.9);
}

TEST(FederatedMetricsTest, NoisyBinsAreRoundedAndNegativeBinsDropped) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(1, 4));
  // As decoded under distributed DP: negatives (2.6, 1.2, -0.7, 0.3) and
  // positives (-0.6, 0.9, 1.4, 2.2) become (3, 1, 0, 0) and (0, 1, 1, 2)
  // (-0.7 and -0.6 would round to -1: they are set to zero first).
  // P = 4, N = 4: bin 1: 1 × (3 + 0.5) = 3.5; bin 2: 1 × 4 = 4; bin 3: 2 × 4 = 8;
  // AUC = 15.5 / 16 = 0.96875.
  const std::vector<float> aggregate =
      Aggregate(layout, 3.0f, 6.2f, 8.4f, {-0.6f, 0.9f, 1.4f, 2.2f}, {2.6f, 1.2f, -0.7f, 0.3f});
  ASSERT_OK_AND_ASSIGN(FederatedMetrics metrics, ComputeFederatedMetrics(layout, aggregate));
  ASSERT_TRUE(metrics.roc_auc.has_value());
  EXPECT_DOUBLE_EQ(*metrics.roc_auc, 0.96875);
  // Ratios are taken as they come from the noisy sums.
  EXPECT_NEAR(*metrics.accuracy, 6.2 / 8.4, 1e-6);
}

// Brute-force AUC over all (positive, negative) pairs: 1 when the positive
// scores higher, 1/2 on a tie, averaged.
double PairwiseAuc(const std::vector<double>& positives, const std::vector<double>& negatives) {
  double wins = 0;
  for (double p : positives) {
    for (double n : negatives) wins += p > n ? 1.0 : (p == n ? 0.5 : 0.0);
  }
  return wins / (static_cast<double>(positives.size()) * static_cast<double>(negatives.size()));
}

TEST(FederatedMetricsTest, AucOfSummedSiteHistogramsEqualsPairwiseAucOfBinnedScores) {
  // Deterministic: fixed seed, and both sides are exact counts, so the
  // comparison cannot fail by chance (false-failure rate 0).
  std::mt19937_64 rng(20260401);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::bernoulli_distribution is_positive(0.4);
  constexpr int kSites = 3;
  constexpr int kExamples = 600;
  for (int64_t bins : {8, 64}) {
    SCOPED_TRACE(bins);
    ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(4, bins));
    std::vector<float> sum(static_cast<size_t>(layout.size()), 0.0f);
    std::vector<double> positive_bins, negative_bins, positive_scores, negative_scores;
    double pooled_loss = 0;
    int pooled_correct = 0;
    for (int site = 0; site < kSites; ++site) {
      // Each site counts its own examples into its own vector.
      std::vector<float> vector(static_cast<size_t>(layout.size()), 0.0f);
      const absl::Span<float> span = absl::MakeSpan(vector);
      ASSERT_OK_AND_ASSIGN(absl::Span<float> pos,
                           layout.MutableBlock(span, kEvalHistogramPositiveBlock));
      ASSERT_OK_AND_ASSIGN(absl::Span<float> neg,
                           layout.MutableBlock(span, kEvalHistogramNegativeBlock));
      double loss = 0;
      int correct = 0;
      const int examples = kExamples / kSites;
      for (int i = 0; i < examples; ++i) {
        const bool label = is_positive(rng);
        // Positives lean towards high scores, negatives towards low ones.
        const double u = uniform(rng);
        const double score = label ? std::sqrt(u) : u * u;
        const int64_t bin = model::ScoreBin(score, bins);
        (label ? pos : neg)[static_cast<size_t>(bin)] += 1.0f;
        (label ? positive_bins : negative_bins).push_back(static_cast<double>(bin));
        (label ? positive_scores : negative_scores).push_back(score);
        loss += -std::log(label ? score : 1.0 - score);
        correct += (score > 0.5) == label ? 1 : 0;
      }
      ASSERT_OK(layout.WriteSlot(span, kEvalLossSumSlot, static_cast<float>(loss)));
      ASSERT_OK(layout.WriteSlot(span, kEvalCorrectSlot, static_cast<float>(correct)));
      ASSERT_OK(layout.WriteSlot(span, kEvalCountSlot, static_cast<float>(examples)));
      pooled_loss += loss;
      pooled_correct += correct;
      for (size_t j = 0; j < sum.size(); ++j) sum[j] += vector[j];
    }

    ASSERT_OK_AND_ASSIGN(FederatedMetrics metrics, ComputeFederatedMetrics(layout, sum));
    ASSERT_TRUE(metrics.roc_auc.has_value());
    EXPECT_NEAR(*metrics.roc_auc, PairwiseAuc(positive_bins, negative_bins), 1e-12);
    // Against the unbinned scores, binning moves the AUC by at most half the
    // fraction of pairs that share a bin (model/roc_auc.h).
    double shared = 0;
    for (double p : positive_bins) {
      for (double n : negative_bins) shared += p == n ? 1.0 : 0.0;
    }
    const double pairs =
        static_cast<double>(positive_bins.size()) * static_cast<double>(negative_bins.size());
    EXPECT_LE(std::abs(*metrics.roc_auc - PairwiseAuc(positive_scores, negative_scores)),
              0.5 * shared / pairs + 1e-12);
    EXPECT_EQ(metrics.examples, kExamples);
    EXPECT_NEAR(*metrics.accuracy, pooled_correct / static_cast<double>(kExamples), 1e-12);
    EXPECT_NEAR(*metrics.mean_loss, pooled_loss / kExamples, 1e-5 * pooled_loss / kExamples);
  }
}

TEST(FederatedMetricsTest, AucIsAbsentWhenOneClassIsMissing) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(1, 3));
  const std::vector<float> aggregate = Aggregate(layout, 1.0f, 2.0f, 4.0f, {0, 0, 0}, {1, 2, 1});
  ASSERT_OK_AND_ASSIGN(FederatedMetrics metrics, ComputeFederatedMetrics(layout, aggregate));
  EXPECT_FALSE(metrics.roc_auc.has_value());
  EXPECT_DOUBLE_EQ(*metrics.mean_loss, 0.25);
  EXPECT_DOUBLE_EQ(*metrics.accuracy, 0.5);
}

TEST(FederatedMetricsTest, LayoutWithoutLossCorrectOrHistogramsGivesOnlyWhatItHas) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout,
                       AggregateLayout::Builder(2).AddSlot(kEvalCountSlot).Build());
  const std::vector<float> aggregate = {0.1f, 0.2f, 12.0f};
  ASSERT_OK_AND_ASSIGN(FederatedMetrics metrics, ComputeFederatedMetrics(layout, aggregate));
  EXPECT_EQ(metrics.examples, 12.0);
  EXPECT_FALSE(metrics.mean_loss.has_value());
  EXPECT_FALSE(metrics.accuracy.has_value());
  EXPECT_FALSE(metrics.roc_auc.has_value());
}

TEST(FederatedMetricsTest, RefusesBadAggregatesAndLayouts) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(2, 2));
  std::vector<float> aggregate = Aggregate(layout, 1.0f, 1.0f, 0.0f, {1, 1}, {1, 1});
  EXPECT_THAT(ComputeFederatedMetrics(layout, aggregate),
              StatusIs(kFailedPrecondition, HasSubstr("no site evaluated")));
  aggregate = Aggregate(layout, 1.0f, 1.0f, -3.0f, {1, 1}, {1, 1});
  EXPECT_THAT(ComputeFederatedMetrics(layout, aggregate), StatusIs(kFailedPrecondition));

  aggregate = Aggregate(layout, 1.0f, 1.0f, 2.0f, {1, 1}, {1, 1});
  aggregate[0] = std::numeric_limits<float>::quiet_NaN();  // even in the update
  EXPECT_THAT(ComputeFederatedMetrics(layout, aggregate),
              StatusIs(kInvalid, HasSubstr("at update[0]")));
  aggregate[0] = 0.0f;
  aggregate.push_back(0.0f);
  EXPECT_THAT(ComputeFederatedMetrics(layout, aggregate), StatusIs(kInvalid));

  aggregate = Aggregate(layout, 1.0f, 1.0f, 2.0f, {1e17f, 1}, {1, 1});
  EXPECT_THAT(ComputeFederatedMetrics(layout, aggregate),
              StatusIs(kInvalid, HasSubstr("above 2^53")));

  ASSERT_OK_AND_ASSIGN(AggregateLayout no_count,
                       AggregateLayout::Builder(2).AddSlot(kEvalLossSumSlot).Build());
  EXPECT_THAT(ComputeFederatedMetrics(no_count, std::vector<float>(3, 1.0f)),
              StatusIs(kFailedPrecondition, HasSubstr("no `eval.count` slot")));
  ASSERT_OK_AND_ASSIGN(AggregateLayout one_histogram, AggregateLayout::Builder(0)
                                                          .AddSlot(kEvalCountSlot)
                                                          .AddBlock(kEvalHistogramPositiveBlock, 2)
                                                          .Build());
  EXPECT_THAT(ComputeFederatedMetrics(one_histogram, std::vector<float>(3, 1.0f)),
              StatusIs(kFailedPrecondition, HasSubstr("only one of the histograms")));
  ASSERT_OK_AND_ASSIGN(AggregateLayout uneven, AggregateLayout::Builder(0)
                                                   .AddSlot(kEvalCountSlot)
                                                   .AddBlock(kEvalHistogramPositiveBlock, 2)
                                                   .AddBlock(kEvalHistogramNegativeBlock, 3)
                                                   .Build());
  EXPECT_THAT(ComputeFederatedMetrics(uneven, std::vector<float>(6, 1.0f)),
              StatusIs(kFailedPrecondition, HasSubstr("2 and 3 bins")));
}

}  // namespace
}  // namespace tessera::coordinator::strategy
