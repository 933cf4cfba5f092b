#include "coordinator/strategy/aggregate_layout.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator::strategy {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

TEST(AggregateLayoutTest, StandardLayoutPlacesSlotsAfterTheUpdateInOrder) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(3, 4));
  // 3 update values, 4 scalar slots, 2 blocks of 4 bins.
  EXPECT_EQ(layout.size(), 3 + 4 + 2 * 4);
  EXPECT_EQ(layout.update_size(), 3);
  std::vector<std::string> names;
  std::vector<int64_t> offsets;
  for (const AggregateLayout::Entry& entry : layout.entries()) {
    names.push_back(entry.name);
    offsets.push_back(entry.offset);
  }
  EXPECT_THAT(names, ElementsAre("weight", "eval.loss_sum", "eval.correct", "eval.count",
                                 "eval.hist.pos", "eval.hist.neg"));
  EXPECT_THAT(offsets, ElementsAre(3, 4, 5, 6, 7, 11));
  ASSERT_OK_AND_ASSIGN(AggregateLayout::Entry negatives, layout.Find(kEvalHistogramNegativeBlock));
  EXPECT_EQ(negatives.length, 4);
  EXPECT_TRUE(negatives.is_block);
  EXPECT_EQ(layout.Describe(),
            "update[3] weight eval.loss_sum eval.correct eval.count eval.hist.pos[4] "
            "eval.hist.neg[4] (15 values)");
}

TEST(AggregateLayoutTest, StandardLayoutWithoutHistogramsHasOnlyTheScalarSlots) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(5, 0));
  EXPECT_EQ(layout.size(), 9);
  EXPECT_TRUE(layout.Has(kEvalCountSlot));
  EXPECT_FALSE(layout.Has(kEvalHistogramPositiveBlock));
  EXPECT_THAT(AggregateLayout::Standard(5, -1), StatusIs(kInvalid, HasSubstr("histogram_bins")));
}

TEST(AggregateLayoutTest, BuilderKeepsCustomEntriesAndAllowsAnEvaluationOnlyLayout) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Builder(0)
                                                   .AddSlot("eval.count")
                                                   .AddBlock("train.loss_by_epoch", 3)
                                                   .AddBlock("one_bin", 1)
                                                   .Build());
  EXPECT_EQ(layout.size(), 5);
  EXPECT_EQ(layout.Describe(), "eval.count train.loss_by_epoch[3] one_bin[1] (5 values)");
  ASSERT_OK_AND_ASSIGN(AggregateLayout::Entry block, layout.Find("train.loss_by_epoch"));
  EXPECT_EQ(block.offset, 1);
  // A block of one value stays a block: reading it as a slot is refused.
  std::vector<float> aggregate(5, 0.0f);
  EXPECT_THAT(layout.ReadSlot(aggregate, "one_bin"), StatusIs(kInvalid, HasSubstr("is a block")));
  ASSERT_OK_AND_ASSIGN(AggregateLayout single,
                       AggregateLayout::Builder(0).AddSlot("eval.count").Build());
  EXPECT_EQ(single.Describe(), "eval.count (1 value)");
}

TEST(AggregateLayoutTest, BuilderRejectsBadNamesLengthsAndSizes) {
  const std::vector<std::string> bad_names = {
      "", "Weight", "a..b", ".a", "a.", "a b", "a-b", "update", std::string(65, 'a')};
  for (const std::string& name : bad_names) {
    EXPECT_THAT(AggregateLayout::Builder(2).AddSlot(name).Build(), StatusIs(kInvalid))
        << "name: \"" << name << "\"";
  }
  EXPECT_THAT(AggregateLayout::Builder(2).AddSlot(std::string(64, 'a')).Build(), IsOk());
  EXPECT_THAT(AggregateLayout::Builder(2).AddSlot("weight").AddBlock("weight", 2).Build(),
              StatusIs(kInvalid, HasSubstr("`weight` is added twice")));
  EXPECT_THAT(AggregateLayout::Builder(2).AddBlock("bins", 0).Build(),
              StatusIs(kInvalid, HasSubstr("`bins` has length 0")));
  EXPECT_THAT(AggregateLayout::Builder(-1).AddSlot("weight").Build(),
              StatusIs(kInvalid, HasSubstr("update size is -1")));
  EXPECT_THAT(AggregateLayout::Builder(0).Build(), StatusIs(kInvalid, HasSubstr("empty")));
  const int64_t max = std::numeric_limits<int32_t>::max();
  EXPECT_THAT(AggregateLayout::Builder(max).Build(), IsOk());
  EXPECT_THAT(AggregateLayout::Builder(max).AddSlot("weight").Build(),
              StatusIs(kInvalid, HasSubstr("longer than")));
  EXPECT_THAT(AggregateLayout::Builder(max + 1).Build(), StatusIs(kInvalid));
}

TEST(AggregateLayoutTest, SitesFillVectorsWhoseSumTheCoordinatorReadsBack) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(2, 3));
  // Each site fills its own vector; the coordinator sees the element-wise sum.
  auto fill = [&](float u0, float u1, float weight, float count, float bin1) {
    std::vector<float> vector(static_cast<size_t>(layout.size()), 0.0f);
    absl::StatusOr<absl::Span<float>> update = layout.MutableUpdate(absl::MakeSpan(vector));
    EXPECT_OK(update.status());
    (*update)[0] = u0;
    (*update)[1] = u1;
    EXPECT_OK(layout.WriteSlot(absl::MakeSpan(vector), kWeightSlot, weight));
    EXPECT_OK(layout.WriteSlot(absl::MakeSpan(vector), kEvalCountSlot, count));
    absl::StatusOr<absl::Span<float>> bins =
        layout.MutableBlock(absl::MakeSpan(vector), kEvalHistogramPositiveBlock);
    EXPECT_OK(bins.status());
    (*bins)[1] = bin1;
    return vector;
  };
  const std::vector<float> a = fill(1.0f, 2.0f, 0.5f, 10.0f, 4.0f);
  const std::vector<float> b = fill(-3.0f, 0.25f, 1.0f, 7.0f, 2.0f);
  std::vector<float> sum(a.size());
  for (size_t i = 0; i < a.size(); ++i) sum[i] = a[i] + b[i];

  ASSERT_OK_AND_ASSIGN(absl::Span<const float> update, layout.ReadUpdate(sum));
  EXPECT_THAT(update, ElementsAre(-2.0f, 2.25f));
  EXPECT_THAT(layout.ReadSlot(sum, kWeightSlot), IsOkAndHolds(1.5f));
  EXPECT_THAT(layout.ReadSlot(sum, kEvalCountSlot), IsOkAndHolds(17.0f));
  EXPECT_THAT(layout.ReadSlot(sum, kEvalLossSumSlot), IsOkAndHolds(0.0f));
  ASSERT_OK_AND_ASSIGN(absl::Span<const float> positives,
                       layout.ReadBlock(sum, kEvalHistogramPositiveBlock));
  EXPECT_THAT(positives, ElementsAre(0.0f, 6.0f, 0.0f));
  ASSERT_OK_AND_ASSIGN(absl::Span<const float> negatives,
                       layout.ReadBlock(sum, kEvalHistogramNegativeBlock));
  EXPECT_THAT(negatives, ElementsAre(0.0f, 0.0f, 0.0f));
}

TEST(AggregateLayoutTest, AccessorsRefuseWrongSizesUnknownNamesAndWrongKinds) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(2, 3));
  std::vector<float> short_vector(static_cast<size_t>(layout.size() - 1), 0.0f);
  EXPECT_THAT(
      layout.ReadUpdate(short_vector),
      StatusIs(kInvalid, HasSubstr("has 11 values but its layout needs 12: update[2] weight")));
  EXPECT_THAT(layout.ReadSlot(short_vector, kWeightSlot), StatusIs(kInvalid));
  EXPECT_THAT(layout.WriteSlot(absl::MakeSpan(short_vector), kWeightSlot, 1.0f),
              StatusIs(kInvalid));
  EXPECT_THAT(layout.MutableUpdate(absl::MakeSpan(short_vector)), StatusIs(kInvalid));

  std::vector<float> vector(static_cast<size_t>(layout.size()), 0.0f);
  EXPECT_THAT(layout.ReadSlot(vector, "eval.auc"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no entry `eval.auc`")));
  EXPECT_THAT(layout.Find("eval.auc"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(layout.ReadSlot(vector, kEvalHistogramPositiveBlock),
              StatusIs(kInvalid, HasSubstr("is a block, not a scalar slot")));
  EXPECT_THAT(layout.ReadBlock(vector, kWeightSlot),
              StatusIs(kInvalid, HasSubstr("is a scalar slot, not a block")));
  EXPECT_THAT(layout.MutableBlock(absl::MakeSpan(vector), kWeightSlot), StatusIs(kInvalid));
}

TEST(AggregateLayoutTest, CheckFiniteNamesThePositionOfTheFirstBadValue) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(2, 3));
  struct Case {
    size_t index;
    float value;
    const char* where;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Positions: update 0-1, weight 2, loss_sum 3, correct 4, count 5,
  // hist.pos 6-8, hist.neg 9-11.
  for (const Case& c :
       {Case{1, nan, "at update[1]"}, Case{2, inf, "at weight"}, Case{5, -inf, "at eval.count"},
        Case{8, nan, "at eval.hist.pos[2]"}, Case{11, inf, "at eval.hist.neg[2]"}}) {
    std::vector<float> vector(static_cast<size_t>(layout.size()), 1.0f);
    EXPECT_OK(layout.CheckFinite(vector));
    vector[c.index] = c.value;
    EXPECT_THAT(layout.CheckFinite(vector), StatusIs(kInvalid, HasSubstr(c.where)));
  }
  EXPECT_THAT(layout.CheckFinite(std::vector<float>(3, 0.0f)), StatusIs(kInvalid));
}

TEST(AggregateLayoutTest, EqualLayoutsCompareEqualAndDifferentOnesDoNot) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout a, AggregateLayout::Standard(3, 4));
  ASSERT_OK_AND_ASSIGN(AggregateLayout b, AggregateLayout::Standard(3, 4));
  ASSERT_OK_AND_ASSIGN(AggregateLayout more_bins, AggregateLayout::Standard(3, 5));
  ASSERT_OK_AND_ASSIGN(AggregateLayout bigger_model, AggregateLayout::Standard(4, 4));
  ASSERT_OK_AND_ASSIGN(AggregateLayout slot_not_block,
                       AggregateLayout::Builder(3).AddSlot("x").Build());
  ASSERT_OK_AND_ASSIGN(AggregateLayout block_of_one,
                       AggregateLayout::Builder(3).AddBlock("x", 1).Build());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, more_bins);
  EXPECT_NE(a, bigger_model);
  EXPECT_NE(slot_not_block, block_of_one);
  EXPECT_NE(slot_not_block.Describe(), block_of_one.Describe());
}

}  // namespace
}  // namespace tessera::coordinator::strategy
