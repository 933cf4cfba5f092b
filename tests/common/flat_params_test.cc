#include "common/flat_params.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

ModelSpec LogisticSpec() {
  auto spec = ModelSpec::Create({{"fc.weight", {1, 30}}, {"fc.bias", {1}}});
  EXPECT_THAT(spec, IsOk());
  return *spec;
}

TEST(ModelSpecTest, ComputesSizeAndOffsetsInCanonicalOrder) {
  ModelSpec spec = LogisticSpec();
  EXPECT_EQ(spec.size(), 31);
  EXPECT_EQ(spec.offset(0), 0);
  EXPECT_EQ(spec.offset(1), 30);
  EXPECT_THAT(spec.IndexOf("fc.bias"), IsOkAndHolds(1u));
  EXPECT_THAT(spec.IndexOf("fc2.bias"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("fc2.bias")));
  EXPECT_EQ(spec.Describe(), "fc.weight[1,30] fc.bias[1] (31 parameters)");
}

TEST(ModelSpecTest, ScalarTensorHasOneElement) {
  ASSERT_OK_AND_ASSIGN(ModelSpec spec, ModelSpec::Create({{"temperature", {}}}));
  EXPECT_EQ(spec.size(), 1);
}

TEST(ModelSpecTest, RejectsBadSpecs) {
  EXPECT_THAT(ModelSpec::Create({}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ModelSpec::Create({{"a", {2}}, {"a", {3}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("appears twice")));
  EXPECT_THAT(ModelSpec::Create({{"a", {2, 0}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dimension 0")));
  EXPECT_THAT(ModelSpec::Create({{"", {2}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no name")));
  EXPECT_THAT(ModelSpec::Create({{"huge", {1 << 20, 1 << 20}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("larger than")));
}

TEST(ModelSpecTest, OrderMattersForEqualityAndFingerprint) {
  ASSERT_OK_AND_ASSIGN(ModelSpec a, ModelSpec::Create({{"w", {2}}, {"b", {1}}}));
  ASSERT_OK_AND_ASSIGN(ModelSpec b, ModelSpec::Create({{"b", {1}}, {"w", {2}}}));
  EXPECT_NE(a, b);
  EXPECT_NE(a.Fingerprint(), b.Fingerprint());
  EXPECT_EQ(a.Fingerprint(), "w:2\nb:1\n");
}

TEST(FlatParamsTest, TensorViewsPointIntoTheFlatBuffer) {
  ModelSpec spec = LogisticSpec();
  Eigen::VectorXf values = Eigen::VectorXf::LinSpaced(31, 0.0f, 30.0f);
  ASSERT_OK_AND_ASSIGN(FlatParams params, FlatParams::FromValues(spec, values));
  ASSERT_OK_AND_ASSIGN(auto bias, params.Tensor("fc.bias"));
  ASSERT_EQ(bias.size(), 1);
  EXPECT_FLOAT_EQ(bias[0], 30.0f);
  ASSERT_OK_AND_ASSIGN(auto weight, params.Tensor("fc.weight"));
  EXPECT_EQ(weight.size(), 30);
  EXPECT_FLOAT_EQ(weight[29], 29.0f);
}

TEST(FlatParamsTest, RejectsWrongLength) {
  EXPECT_THAT(FlatParams::FromValues(LogisticSpec(), Eigen::VectorXf::Zero(30)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 30 values")));
}

TEST(FlatParamsTest, CheckFiniteNamesTensorAndIndex) {
  FlatParams params = FlatParams::Zeros(LogisticSpec());
  EXPECT_THAT(params.CheckFinite(), IsOk());
  params.mutable_values()[30] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(params.CheckFinite(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("`fc.bias`")));
  params.mutable_values()[30] = 0;
  params.mutable_values()[7] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(params.CheckFinite(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("`fc.weight`")));
  EXPECT_THAT(params.CheckFinite(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("element 7")));
}


TEST(ParameterBytesTest, IsLittleEndianFloat32AndRoundTrips) {
  Eigen::VectorXf values(3);
  values << 1.0f, -2.5f, 0.0f;
  const std::string bytes = ParameterBytes(values);
  // IEEE 754 binary32: 1.0 = 0x3F800000, -2.5 = 0xC0200000, stored low byte first.
  const std::string expected("\x00\x00\x80\x3f\x00\x00\x20\xc0\x00\x00\x00\x00", 12);
  EXPECT_EQ(bytes, expected);
  auto back = ParametersFromBytes(bytes, 3);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, values);
}

TEST(ParameterBytesTest, RejectsPartialValuesAndWrongCounts) {
  EXPECT_THAT(ParametersFromBytes(std::string(7, '\0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 bytes")));
  EXPECT_THAT(ParametersFromBytes(std::string(8, '\0'), 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 3")));
}

}  // namespace
}  // namespace tessera
