#include "model/loss.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

Eigen::MatrixXf Column(std::initializer_list<float> values) {
  Eigen::MatrixXf m(static_cast<Eigen::Index>(values.size()), 1);
  Eigen::Index i = 0;
  for (float v : values) m(i++, 0) = v;
  return m;
}

// Expected values follow from the definitions of the losses (PyTorch's
// BCEWithLogitsLoss, CrossEntropyLoss and MSELoss documentation):
// BCE(0, y) = log 2 for either label; BCE(z, 1) = log(1 + e^-z);
// BCE(z, 0) = log(1 + e^z); CE with K equal logits = log K.
TEST(LossTest, BinaryCrossEntropyKnownValues) {
  const Eigen::MatrixXf outputs = Column({0.0f, 2.0f, 2.0f, -30.0f});
  Eigen::VectorXf targets(4);
  targets << 1, 1, 0, 1;
  Eigen::MatrixXf d;
  Eigen::VectorXd each;
  const double total =
      ComputeLoss(LossKind::kBinaryCrossEntropyWithLogits, outputs, targets, &d, &each);
  EXPECT_NEAR(each[0], std::log(2.0), 1e-12);
  EXPECT_NEAR(each[1], std::log1p(std::exp(-2.0)), 1e-12);
  EXPECT_NEAR(each[2], std::log1p(std::exp(2.0)), 1e-12);
  EXPECT_NEAR(each[3], 30.0 + std::log1p(std::exp(-30.0)), 1e-9);  // stable for large |z|
  EXPECT_NEAR(total, each.sum(), 1e-12);
  // d/dz = sigmoid(z) - y.
  EXPECT_FLOAT_EQ(d(0, 0), -0.5f);
  EXPECT_FLOAT_EQ(d(1, 0), static_cast<float>(1.0 / (1.0 + std::exp(-2.0)) - 1.0));
  EXPECT_FLOAT_EQ(d(2, 0), static_cast<float>(1.0 / (1.0 + std::exp(-2.0))));
}

TEST(LossTest, CrossEntropyKnownValues) {
  Eigen::MatrixXf outputs(2, 3);
  outputs << 0.7f, 0.7f, 0.7f,  //
      1000.0f, 0.0f, -1.0f;      // large logits must not overflow
  Eigen::VectorXf targets(2);
  targets << 2, 0;
  Eigen::MatrixXf d;
  Eigen::VectorXd each;
  ComputeLoss(LossKind::kCrossEntropy, outputs, targets, &d, &each);
  EXPECT_NEAR(each[0], std::log(3.0), 1e-7);
  EXPECT_NEAR(each[1], std::log1p(std::exp(-1000.0) + std::exp(-1001.0)), 1e-12);
  // softmax - onehot: each row sums to 0.
  EXPECT_FLOAT_EQ(d(0, 0), 1.0f / 3);
  EXPECT_FLOAT_EQ(d(0, 2), 1.0f / 3 - 1);
  EXPECT_NEAR(d.row(1).sum(), 0.0f, 1e-7);
}

TEST(LossTest, MeanSquaredErrorKnownValues) {
  Eigen::VectorXf targets(2);
  targets << 1.0f, -2.0f;
  Eigen::MatrixXf d;
  EXPECT_DOUBLE_EQ(ComputeLoss(LossKind::kMeanSquaredError, Column({3.0f, -2.5f}), targets, &d),
                   4.0 + 0.25);
  EXPECT_FLOAT_EQ(d(0, 0), 4.0f);
  EXPECT_FLOAT_EQ(d(1, 0), -1.0f);
}

TEST(LossTest, GradientsMatchFiniteDifferences) {
  Eigen::MatrixXf outputs(3, 4);
  outputs << 0.3f, -1.2f, 2.0f, 0.1f,  //
      -0.5f, 0.4f, 0.0f, 1.5f,         //
      1.0f, 1.0f, -2.0f, 0.2f;
  Eigen::VectorXf targets(3);
  targets << 3, 0, 1;
  Eigen::MatrixXf d, unused;
  ComputeLoss(LossKind::kCrossEntropy, outputs, targets, &d);
  const float h = 1e-2f;
  for (Eigen::Index i = 0; i < 3; ++i) {
    for (Eigen::Index k = 0; k < 4; ++k) {
      Eigen::MatrixXf plus = outputs, minus = outputs;
      plus(i, k) += h;
      minus(i, k) -= h;
      const double numeric = (ComputeLoss(LossKind::kCrossEntropy, plus, targets, &unused) -
                              ComputeLoss(LossKind::kCrossEntropy, minus, targets, &unused)) /
                             (2 * h);
      EXPECT_NEAR(d(i, k), numeric, 1e-4);
    }
  }
}

TEST(LossTest, NamesRoundTrip) {
  for (LossKind kind : {LossKind::kBinaryCrossEntropyWithLogits, LossKind::kCrossEntropy,
                        LossKind::kMeanSquaredError}) {
    EXPECT_THAT(ParseLossKind(LossKindName(kind)), IsOkAndHolds(kind));
  }
  EXPECT_THAT(ParseLossKind("hinge"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bce_with_logits")));
}

TEST(LossTest, ValidateTargetsChecksOutputsAndValues) {
  Eigen::VectorXf labels(3);
  labels << 0, 1, 1;
  EXPECT_OK(ValidateTargets(LossKind::kBinaryCrossEntropyWithLogits, 1, labels));
  EXPECT_THAT(ValidateTargets(LossKind::kBinaryCrossEntropyWithLogits, 2, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly 1 output")));
  labels[2] = 2;
  EXPECT_THAT(ValidateTargets(LossKind::kBinaryCrossEntropyWithLogits, 1, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("example 2")));
  EXPECT_OK(ValidateTargets(LossKind::kCrossEntropy, 3, labels));
  EXPECT_THAT(ValidateTargets(LossKind::kCrossEntropy, 2, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("class index from 0 to 1")));
  EXPECT_THAT(ValidateTargets(LossKind::kCrossEntropy, 1, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 2 outputs")));
  labels[1] = 0.5f;
  EXPECT_THAT(ValidateTargets(LossKind::kCrossEntropy, 3, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("example 1")));
  labels[1] = std::nanf("");
  EXPECT_THAT(ValidateTargets(LossKind::kMeanSquaredError, 1, labels),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite")));
}

}  // namespace
}  // namespace tessera::model
