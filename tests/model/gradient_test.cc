// Gradients: the built-in models' closed-form (Eigen) batch and per-example
// gradients against libtorch autograd on the same model exported as
// TorchScript (the general one-example-at-a-time fallback), and the
// closed-form clipped sum against clipping explicit per-example gradients.
#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/model.h"
#include "tests/model/model_test_util.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

using ::tessera::model::testing::MaxRelativeDifference;
using ::tessera::model::testing::ReloadAsTorchScript;
using ::tessera::model::testing::TestdataPath;
using ::tessera::model::testing::UniformVector;
using ::tessera::testing::StatusIs;

constexpr double kTolerance = 1e-5;

struct Case {
  std::string name;
  int64_t features;
  std::vector<int64_t> hidden;
  int64_t outputs;
  LossKind loss;
};

// Targets valid for `loss`, varied across the batch.
Eigen::VectorXf Targets(LossKind loss, int64_t rows, int64_t outputs) {
  Eigen::VectorXf targets(rows);
  for (int64_t i = 0; i < rows; ++i) {
    switch (loss) {
      case LossKind::kBinaryCrossEntropyWithLogits:
        targets[i] = static_cast<float>(i % 2);
        break;
      case LossKind::kCrossEntropy:
        targets[i] = static_cast<float>(i % outputs);
        break;
      case LossKind::kMeanSquaredError:
        targets[i] = 0.3f * static_cast<float>(i) - 1.0f;
        break;
    }
  }
  return targets;
}

class FastVersusFallbackTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    ASSERT_OK_AND_ASSIGN(builtin_, Model::Mlp(c.features, c.hidden, c.outputs, /*init_seed=*/11));
    params_ = UniformVector(builtin_->spec().size(), 0.7f, 12);
    ASSERT_OK(builtin_->SetParameters(FlatParams::FromValues(builtin_->spec(), params_).value()));
    ASSERT_OK_AND_ASSIGN(fallback_, ReloadAsTorchScript(*builtin_));
    ASSERT_FALSE(fallback_->builtin());
    const int64_t rows = 9;
    features_ = Eigen::Map<const Eigen::MatrixXf>(
        UniformVector(rows * c.features, 1.5f, 13).data(), rows, c.features);
    targets_ = Targets(c.loss, rows, c.outputs);
  }

  std::unique_ptr<Model> builtin_;
  std::unique_ptr<Model> fallback_;
  Eigen::VectorXf params_;
  Eigen::MatrixXf features_;
  Eigen::VectorXf targets_;
};

TEST_P(FastVersusFallbackTest, PerExampleGradientsAgree) {
  Eigen::MatrixXf fast, slow;
  ASSERT_OK_AND_ASSIGN(double fast_loss, builtin_->PerExampleGradients(
                                             params_, features_, targets_, GetParam().loss, &fast));
  ASSERT_OK_AND_ASSIGN(double slow_loss, fallback_->PerExampleGradients(
                                             params_, features_, targets_, GetParam().loss, &slow));
  ASSERT_EQ(fast.rows(), builtin_->spec().size());
  ASSERT_EQ(fast.cols(), features_.rows());
  ASSERT_EQ(slow.rows(), fast.rows());
  ASSERT_EQ(slow.cols(), fast.cols());
  EXPECT_LT(MaxRelativeDifference(fast, slow), kTolerance);
  EXPECT_NEAR(fast_loss, slow_loss, kTolerance * std::max(1.0, std::abs(slow_loss)));
  // Not a vacuous comparison: the gradients are far from zero.
  EXPECT_GT(slow.cwiseAbs().maxCoeff(), 0.05f);
}

TEST_P(FastVersusFallbackTest, BatchGradientIsTheSumOfPerExampleGradients) {
  Eigen::VectorXf fast, slow;
  Eigen::MatrixXf per_example;
  ASSERT_OK(builtin_->Gradient(params_, features_, targets_, GetParam().loss, &fast).status());
  ASSERT_OK(fallback_->Gradient(params_, features_, targets_, GetParam().loss, &slow).status());
  ASSERT_OK(builtin_->PerExampleGradients(params_, features_, targets_, GetParam().loss,
                                          &per_example)
                .status());
  EXPECT_LT(MaxRelativeDifference(fast, slow), kTolerance);
  EXPECT_LT(MaxRelativeDifference(fast, per_example.rowwise().sum()), kTolerance);
}

TEST_P(FastVersusFallbackTest, ClippedSumsAgree) {
  Eigen::MatrixXf per_example;
  ASSERT_OK(builtin_->PerExampleGradients(params_, features_, targets_, GetParam().loss,
                                          &per_example)
                .status());
  // Clip at the median norm, so about half the examples are clipped.
  Eigen::VectorXf sorted = per_example.colwise().norm().transpose();
  std::sort(sorted.data(), sorted.data() + sorted.size());
  const double clip = sorted[sorted.size() / 2];
  Eigen::VectorXf fast_sum, slow_sum, fast_norms, slow_norms;
  ASSERT_OK(builtin_->ClippedGradientSum(params_, features_, targets_, GetParam().loss, clip,
                                         &fast_sum, &fast_norms)
                .status());
  ASSERT_OK(fallback_->ClippedGradientSum(params_, features_, targets_, GetParam().loss, clip,
                                          &slow_sum, &slow_norms)
                .status());
  EXPECT_LT(MaxRelativeDifference(fast_sum, slow_sum), kTolerance);
  EXPECT_LT(MaxRelativeDifference(fast_norms, slow_norms), kTolerance);
  // Against clipping each column by hand (Abadi et al. 2016, Algorithm 1).
  Eigen::VectorXf expected = Eigen::VectorXf::Zero(per_example.rows());
  int clipped = 0;
  for (Eigen::Index i = 0; i < per_example.cols(); ++i) {
    const double norm = per_example.col(i).norm();
    clipped += norm > clip ? 1 : 0;
    expected += per_example.col(i) * static_cast<float>(std::min(1.0, clip / norm));
  }
  EXPECT_GE(clipped, 3);
  EXPECT_LT(MaxRelativeDifference(fast_sum, expected), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    BuiltinModels, FastVersusFallbackTest,
    ::testing::Values(
        Case{"LogisticRegressionBce", 6, {}, 1, LossKind::kBinaryCrossEntropyWithLogits},
        Case{"MlpBce", 5, {7, 4}, 1, LossKind::kBinaryCrossEntropyWithLogits},
        Case{"MlpCrossEntropy", 5, {6}, 3, LossKind::kCrossEntropy},
        Case{"MlpMse", 4, {8, 8, 3}, 1, LossKind::kMeanSquaredError}),
    [](const ::testing::TestParamInfo<Case>& param) { return param.param.name; });

// Central finite differences in float are accurate to about 1e-3 here; they
// check the autograd path of an arbitrary TorchScript module independently
// of the built-in code.
TEST(TorchScriptGradientTest, FixtureGradientMatchesFiniteDifferences) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const Eigen::VectorXf params = model->GetParameters().values();
  const Eigen::MatrixXf features =
      Eigen::Map<const Eigen::MatrixXf>(UniformVector(20, 1.0f, 21).data(), 5, 4);
  Eigen::VectorXf targets(5);
  targets << 0, 1, 1, 0, 1;
  const LossKind loss = LossKind::kBinaryCrossEntropyWithLogits;
  Eigen::VectorXf gradient;
  ASSERT_OK(model->Gradient(params, features, targets, loss, &gradient).status());
  const float h = 1e-2f;
  for (Eigen::Index j = 0; j < params.size(); ++j) {
    Eigen::VectorXf plus = params, minus = params, unused;
    plus[j] += h;
    minus[j] -= h;
    ASSERT_OK_AND_ASSIGN(double up, model->Gradient(plus, features, targets, loss, &unused));
    ASSERT_OK_AND_ASSIGN(double down, model->Gradient(minus, features, targets, loss, &unused));
    EXPECT_NEAR(gradient[j], (up - down) / (2 * h), 2e-3) << model->spec().Describe() << " #" << j;
  }
}

TEST(TorchScriptGradientTest, FixturePerExampleGradientsSumToBatchGradient) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const Eigen::VectorXf params = model->GetParameters().values();
  const Eigen::MatrixXf features =
      Eigen::Map<const Eigen::MatrixXf>(UniformVector(28, 1.0f, 22).data(), 7, 4);
  const Eigen::VectorXf targets = UniformVector(7, 2.0f, 23);
  Eigen::VectorXf batch;
  Eigen::MatrixXf per_example;
  ASSERT_OK(model->Gradient(params, features, targets, LossKind::kMeanSquaredError, &batch).status());
  ASSERT_OK(model->PerExampleGradients(params, features, targets, LossKind::kMeanSquaredError,
                                       &per_example)
                .status());
  EXPECT_LT(MaxRelativeDifference(per_example.rowwise().sum(), batch), kTolerance);
}

TEST(GradientTest, RejectsWrongParameterLengthAndClipNorm) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  Eigen::VectorXf gradient;
  EXPECT_THAT(model->Gradient(Eigen::VectorXf::Zero(5), Eigen::MatrixXf::Zero(2, 3),
                              Eigen::VectorXf::Zero(2), LossKind::kMeanSquaredError, &gradient),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(model->ClippedGradientSum(Eigen::VectorXf::Zero(4), Eigen::MatrixXf::Zero(2, 3),
                                        Eigen::VectorXf::Zero(2), LossKind::kMeanSquaredError,
                                        0.0, &gradient, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace tessera::model
