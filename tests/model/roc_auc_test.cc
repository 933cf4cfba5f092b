#include "model/roc_auc.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/random.h"
#include "privacy/random.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::DoubleNear;

// The AUC straight from its definition (Hanley & McNeil 1982): the fraction
// of (positive, negative) pairs in which the positive scores higher, ties
// counting one half. O(P N), for tests only.
double DirectAuc(const std::vector<double>& negatives, const std::vector<double>& positives) {
  double wins = 0;
  for (double p : positives) {
    for (double n : negatives) wins += p > n ? 1.0 : (p == n ? 0.5 : 0.0);
  }
  return wins / (static_cast<double>(positives.size()) * static_cast<double>(negatives.size()));
}

struct Histograms {
  std::vector<int64_t> negatives;
  std::vector<int64_t> positives;
};

Histograms Bin(const std::vector<double>& negatives, const std::vector<double>& positives,
               int64_t bins) {
  Histograms h{std::vector<int64_t>(static_cast<size_t>(bins), 0),
               std::vector<int64_t>(static_cast<size_t>(bins), 0)};
  for (double s : negatives) ++h.negatives[static_cast<size_t>(ScoreBin(s, bins))];
  for (double s : positives) ++h.positives[static_cast<size_t>(ScoreBin(s, bins))];
  return h;
}

TEST(ScoreBinTest, EdgesAndOutOfRange) {
  EXPECT_EQ(ScoreBin(0.0, 64), 0);
  EXPECT_EQ(ScoreBin(1.0 / 64, 64), 1);
  EXPECT_EQ(ScoreBin(0.5, 64), 32);
  EXPECT_EQ(ScoreBin(0.999999, 64), 63);
  EXPECT_EQ(ScoreBin(1.0, 64), 63);
  EXPECT_EQ(ScoreBin(1.5, 64), 63);
  EXPECT_EQ(ScoreBin(-0.1, 64), 0);
  EXPECT_EQ(ScoreBin(std::nan(""), 64), 0);
}

TEST(RocAucTest, HandWorkedExample) {
  // Negatives in bins 0,0,1; positives in bins 1,2,3. Pairs: bin-1 positive
  // beats 2 negatives and ties 1 (2.5); the others beat all 3 (3 + 3):
  // AUC = 8.5 / 9.
  EXPECT_THAT(RocAucFromHistograms({2, 1, 0, 0}, {0, 1, 1, 1}),
              IsOkAndHolds(DoubleNear(8.5 / 9, 1e-15)));
}

TEST(RocAucTest, PerfectReversedAndUninformative) {
  EXPECT_THAT(RocAucFromHistograms({5, 0, 0}, {0, 0, 7}), IsOkAndHolds(1.0));
  EXPECT_THAT(RocAucFromHistograms({0, 0, 5}, {7, 0, 0}), IsOkAndHolds(0.0));
  EXPECT_THAT(RocAucFromHistograms({0, 4, 0}, {0, 9, 0}), IsOkAndHolds(0.5));
}

TEST(RocAucTest, EqualsDirectAucWhenClassesNeverShareABin) {
  // Scores at bin centres, with positives and negatives in disjoint bins:
  // binning loses nothing, so the result must equal the direct AUC.
  privacy::Xoshiro256StarStar random(41);
  const int64_t bins = 64;
  std::vector<double> negatives, positives;
  for (int i = 0; i < 300; ++i) {
    const auto bin = static_cast<double>(privacy::UniformBelow(random, 32));
    // Negatives in even bins, positives in odd bins, positives skewed high.
    negatives.push_back((2 * bin + 0.5) / bins);
    positives.push_back((2 * std::max(bin, static_cast<double>(privacy::UniformBelow(random, 32))) + 1.5) / bins);
  }
  const Histograms h = Bin(negatives, positives, bins);
  EXPECT_THAT(RocAucFromHistograms(h.negatives, h.positives),
              IsOkAndHolds(DoubleNear(DirectAuc(negatives, positives), 1e-12)));
}

TEST(RocAucTest, WithinHalfTheSharedBinFractionOfDirectAuc) {
  // Continuous scores: binning treats same-bin pairs as ties, so the error is
  // at most half the fraction of (positive, negative) pairs sharing a bin.
  privacy::Xoshiro256StarStar random(42);
  const int64_t bins = 64;
  std::vector<double> negatives, positives;
  for (int i = 0; i < 400; ++i) {
    negatives.push_back(1.0 / (1.0 + std::exp(-(SampleGaussian(random) - 0.5))));
    positives.push_back(1.0 / (1.0 + std::exp(-(SampleGaussian(random) + 0.5))));
  }
  const Histograms h = Bin(negatives, positives, bins);
  double shared = 0;
  for (size_t b = 0; b < h.negatives.size(); ++b) {
    shared += static_cast<double>(h.negatives[b]) * static_cast<double>(h.positives[b]);
  }
  shared /= 400.0 * 400.0;
  ASSERT_OK_AND_ASSIGN(double binned, RocAucFromHistograms(h.negatives, h.positives));
  const double direct = DirectAuc(negatives, positives);
  EXPECT_LE(std::abs(binned - direct), shared / 2 + 1e-12);
  EXPECT_GT(direct, 0.6);  // the classes differ, so the check is not trivial
}

TEST(RocAucTest, RejectsBadHistograms) {
  EXPECT_THAT(RocAucFromHistograms({1, 2}, {1}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RocAucFromHistograms({}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RocAucFromHistograms({1, -1}, {1, 1}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RocAucFromHistograms({0, 0}, {1, 1}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(RocAucFromHistograms({3, 0}, {0, 0}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace tessera::model
