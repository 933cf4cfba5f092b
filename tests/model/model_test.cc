#include "model/model.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ModelTest, LogisticRegressionSpecIsWeightThenBias) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(30, 1));
  ASSERT_EQ(model->spec().tensors().size(), 2u);
  EXPECT_EQ(model->spec().tensors()[0].name, "0.weight");
  EXPECT_EQ(model->spec().tensors()[0].shape, (std::vector<int64_t>{1, 30}));
  EXPECT_EQ(model->spec().tensors()[1].name, "0.bias");
  EXPECT_EQ(model->spec().size(), 31);
}

TEST(ModelTest, MlpSpecFollowsLayerOrder) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(4, {8, 3}, 2));
  EXPECT_EQ(model->spec().Describe(),
            "0.weight[8,4] 0.bias[8] 2.weight[3,8] 2.bias[3] 4.weight[2,3] 4.bias[2] "
            "(75 parameters)");
}

TEST(ModelTest, RejectsNonPositiveSizes) {
  EXPECT_THAT(Model::LogisticRegression(0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Model::Mlp(3, {0}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hidden layer width 0")));
}

TEST(ModelTest, SetThenGetRoundTripsExactly) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(3, {5}, 2));
  FlatParams params = FlatParams::Zeros(model->spec());
  for (int64_t i = 0; i < params.values().size(); ++i) {
    params.mutable_values()[i] = 0.01f * static_cast<float>(i) - 0.2f;
  }
  ASSERT_OK(model->SetParameters(params));
  EXPECT_EQ(model->GetParameters().values(), params.values());
}

TEST(ModelTest, ForwardComputesTheLinearLogit) {
  // With known weights the logit is w·x + b, computed here independently.
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  Eigen::VectorXf values(4);
  values << 0.5f, -1.0f, 2.0f, 0.25f;  // w = (0.5, -1, 2), b = 0.25
  ASSERT_OK_AND_ASSIGN(FlatParams params, FlatParams::FromValues(model->spec(), values));
  ASSERT_OK(model->SetParameters(params));
  Eigen::MatrixXf batch(2, 3);
  batch << 1, 2, 3,  //
      -1, 0, 0.5;
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf logits, model->Forward(batch));
  ASSERT_EQ(logits.rows(), 2);
  ASSERT_EQ(logits.cols(), 1);
  EXPECT_FLOAT_EQ(logits(0, 0), 0.5f - 2.0f + 6.0f + 0.25f);
  EXPECT_FLOAT_EQ(logits(1, 0), -0.5f + 0.0f + 1.0f + 0.25f);
}

TEST(ModelTest, ForwardRejectsWrongFeatureCount) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  EXPECT_THAT(model->Forward(Eigen::MatrixXf::Zero(2, 4)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("takes 3 features")));
}

TEST(ModelTest, SetParametersRejectsOtherSpecAndNonFinite) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  ASSERT_OK_AND_ASSIGN(auto other, Model::LogisticRegression(4, 1));
  FlatParams before = model->GetParameters();
  EXPECT_THAT(model->SetParameters(other->GetParameters()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not fit")));
  FlatParams bad = before;
  bad.mutable_values()[2] = std::nanf("");
  EXPECT_THAT(model->SetParameters(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(model->GetParameters().values(), before.values());  // unchanged on error
}

}  // namespace
}  // namespace tessera::model
