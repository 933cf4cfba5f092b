#include "privacy/clipping.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ClipL2Test, ScalesLongUpdatesOntoTheBoundKeepingDirection) {
  std::vector<float> v = {3, 4, 0, -12};  // norm 13
  ASSERT_OK_AND_ASSIGN(ClipResult result, ClipL2(absl::MakeSpan(v), 1.0));
  EXPECT_DOUBLE_EQ(result.norm, 13.0);
  EXPECT_LE(L2Norm(v), 1.0);
  EXPECT_NEAR(L2Norm(v), 1.0, 1e-5);
  EXPECT_NEAR(v[0] / v[1], 0.75, 1e-6);
  EXPECT_NEAR(v[3] / v[0], -4.0, 1e-6);
}

TEST(ClipL2Test, NeverLeavesTheNormAboveTheBound) {
  // Many coordinates, each rounded to float: the margin must absorb it.
  std::vector<float> v(1 << 16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.1 * static_cast<double>(i)) * 7.3);
  for (double clip : {1e-3, 0.37, 1.0, 123.456}) {
    std::vector<float> copy = v;
    ASSERT_OK(ClipL2(absl::MakeSpan(copy), clip));
    EXPECT_LE(L2Norm(copy), clip) << clip;
  }
}

TEST(ClipL2Test, LeavesShortUpdatesAlone) {
  Eigen::VectorXf v(3);
  v << 0.1f, -0.2f, 0.2f;
  const Eigen::VectorXf before = v;
  ASSERT_OK_AND_ASSIGN(ClipResult result, ClipL2(v, 1.0));
  EXPECT_EQ(result.scale, 1.0);
  EXPECT_NEAR(result.norm, 0.3, 1e-7);
  EXPECT_EQ(v, before);
}

TEST(ClipL2Test, RejectsNonFiniteValuesWithoutRevealingThem) {
  std::vector<float> v = {1, std::numeric_limits<float>::quiet_NaN(), 2};
  EXPECT_THAT(ClipL2(absl::MakeSpan(v), 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("index 1")));
  v[1] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(ClipL2(absl::MakeSpan(v), 1.0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ClipL2(absl::MakeSpan(v), 0.0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("clip norm")));
  std::vector<float> ok = {1};
  EXPECT_THAT(ClipL2(absl::MakeSpan(ok), -1.0), Not(::tessera::testing::IsOk()));
}

}  // namespace
}  // namespace tessera::privacy
