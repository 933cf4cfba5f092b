// DP-SGD (Abadi et al. 2016, Algorithm 1) in Train: noise scale, clipping,
// Poisson-sampled lots, the reported mechanism, repeatability, and that it
// still learns. Statistical tests use fixed seeds and state their
// false-failure rate for a random seed.
#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/trainer.h"
#include "tests/model/model_test_util.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

using ::tessera::model::testing::Data;
using ::tessera::model::testing::ReloadAsTorchScript;
using ::tessera::model::testing::SeparableData;
using ::tessera::model::testing::TestdataPath;

TrainOptions DpOptions(double clip_norm, double noise_multiplier, int64_t batch_size,
                       uint64_t seed) {
  TrainOptions options;
  options.loss = LossKind::kBinaryCrossEntropyWithLogits;
  options.optimizer.learning_rate = 1.0;
  options.epochs = 1;
  options.batch_size = batch_size;
  options.dp.enabled = true;
  options.dp.clip_norm = clip_norm;
  options.dp.noise_multiplier = noise_multiplier;
  options.dp.insecure_test_seed = seed;
  return options;
}

TEST(DpSgdTest, NoiseStddevIsSigmaTimesClipOverExpectedLotSize) {
  // Zero features and MSE: every example's gradient with respect to the
  // 4000 weights is 2 (z - y) x = 0 at every step, so what moves the weights
  // is the noise alone. With SGD at lr = 1 over T steps each weight ends at
  // -sum_t n_t / (qN) with n_t ~ N(0, (sigma C)^2): normal with mean 0 and
  // sd sigma C sqrt(T) / (qN). (The bias does get data gradients and is left
  // out.) Here N = 100, batch 5 -> q = 0.05, qN = 5, T = ceil(100/5) = 20.
  // The sample sd of n = 4000 normals has relative sd 1/sqrt(2n) = 1.1%: a
  // 5% band is 4.5 sd (false-failure rate 7e-6); the sample mean's band of
  // 5 sd / sqrt(n) fails w.p. 5.7e-7.
  const int64_t features = 4000;
  const int64_t n = 100;
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(features, 1));
  const FlatParams start = FlatParams::Zeros(model->spec());
  const double sigma = 1.3, clip = 0.7;
  TrainOptions options = DpOptions(clip, sigma, 5, /*seed=*/31);
  options.loss = LossKind::kMeanSquaredError;
  ASSERT_OK_AND_ASSIGN(TrainResult result, Train(*model, Eigen::MatrixXf::Zero(n, features),
                                                 Eigen::VectorXf::Zero(n), start, options));
  ASSERT_EQ(result.steps, 20);
  const Eigen::VectorXd weights = result.params.values().head(features).cast<double>();
  const double expected_sd = sigma * clip * std::sqrt(20.0) / 5.0;
  const double mean = weights.mean();
  const double sd = std::sqrt((weights.array() - mean).square().sum() / (features - 1));
  EXPECT_NEAR(sd, expected_sd, 0.05 * expected_sd);
  EXPECT_NEAR(mean, 0.0, 5 * expected_sd / std::sqrt(features));

  // And sigma = 0 leaves them exactly at zero: no other noise leaks in.
  options.dp.noise_multiplier = 0.0;
  ASSERT_OK_AND_ASSIGN(TrainResult silent, Train(*model, Eigen::MatrixXf::Zero(n, features),
                                                 Eigen::VectorXf::Zero(n), start, options));
  EXPECT_EQ(silent.params.values().head(features).cwiseAbs().maxCoeff(), 0.0f);
}

TEST(DpSgdTest, OneExampleMovesTheParametersByExactlyTheClipNorm) {
  // One record with a gradient of norm far above C, q = 1, no noise, lr = 1:
  // the step is clip(g) / (qN) = C g / ||g||, of norm exactly C.
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  const FlatParams start = FlatParams::Zeros(model->spec());
  Eigen::MatrixXf x(1, 3);
  x << 300, -400, 1200;  // ||x|| = 1300
  Eigen::VectorXf y(1);
  y << 1;
  const double clip = 0.25;
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, x, y, start, DpOptions(clip, 0.0, 1, /*seed=*/32)));
  ASSERT_EQ(result.steps, 1);
  const Eigen::VectorXf step = result.params.values() - start.values();
  EXPECT_NEAR(step.norm(), clip, 1e-6);
  // The direction is the gradient's: (sigmoid(0) - 1) (x, 1), so w moves along +x.
  EXPECT_NEAR(step[2] / step[0], 4.0, 1e-4);
}

TEST(DpSgdTest, ClippingBoundsEachExamplesContribution) {
  // Many records, q = 1, no noise: the step is the mean of clipped
  // gradients, so its norm is at most C however large the features are;
  // without clipping it would be about 1000 times larger.
  const Data data = SeparableData(50, 4, 33);
  Eigen::MatrixXf scaled = data.features * 1000.0f;
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(4, {5}, 1, 34));
  const FlatParams start = model->GetParameters();
  const double clip = 0.5;
  ASSERT_OK_AND_ASSIGN(TrainResult result, Train(*model, scaled, data.targets, start,
                                                 DpOptions(clip, 0.0, 50, /*seed=*/35)));
  const double step = (result.params.values() - start.values()).norm();
  EXPECT_LE(step, clip * (1 + 1e-6));
  EXPECT_GT(step, 0.05 * clip);  // the clipped gradients largely agree in direction
}

TEST(DpSgdTest, ReportsTheMechanismForTheAccountant) {
  const Data data = SeparableData(1000, 3, 36);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  TrainOptions options = DpOptions(1.5, 1.1, 40, /*seed=*/37);
  options.epochs = 3;
  options.optimizer.learning_rate = 0.1;
  ASSERT_OK_AND_ASSIGN(TrainResult result, Train(*model, data.features, data.targets,
                                                 model->GetParameters(), options));
  ASSERT_TRUE(result.dp.has_value());
  EXPECT_DOUBLE_EQ(result.dp->sampling_rate, 0.04);  // q = 40 / 1000
  EXPECT_EQ(result.dp->steps, 3 * 25);
  EXPECT_EQ(result.steps, 75);
  EXPECT_DOUBLE_EQ(result.dp->noise_multiplier, 1.1);
  EXPECT_DOUBLE_EQ(result.dp->clip_norm, 1.5);
  EXPECT_EQ(result.dp->records, 1000);
  // Lots are Poisson: their total size is Binomial(75 * 1000, 0.04), mean
  // 3000, sd 53.7; a 5-sd band fails w.p. 5.7e-7.
  EXPECT_NEAR(static_cast<double>(result.examples_seen), 3000, 5 * 53.7);
  EXPECT_NE(result.examples_seen, 3000);  // fixed-size batches would give exactly qN per step
}

TEST(DpSgdTest, SeededRunsRepeatAndSecureRunsDoNot) {
  const Data data = SeparableData(200, 3, 38);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  const FlatParams start = model->GetParameters();
  TrainOptions options = DpOptions(1.0, 1.0, 20, /*seed=*/39);
  options.optimizer.learning_rate = 0.1;
  ASSERT_OK_AND_ASSIGN(TrainResult a, Train(*model, data.features, data.targets, start, options));
  ASSERT_OK_AND_ASSIGN(TrainResult b, Train(*model, data.features, data.targets, start, options));
  EXPECT_EQ(a.params.values(), b.params.values());
  EXPECT_EQ(a.examples_seen, b.examples_seen);
  options.dp.insecure_test_seed.reset();  // production: the OS CSPRNG
  ASSERT_OK_AND_ASSIGN(TrainResult c, Train(*model, data.features, data.targets, start, options));
  ASSERT_OK_AND_ASSIGN(TrainResult d, Train(*model, data.features, data.targets, start, options));
  EXPECT_NE(c.params.values(), d.params.values());
  EXPECT_NE(c.params.values(), a.params.values());
}

TEST(DpSgdTest, LearnsWithModerateNoise) {
  const Data data = SeparableData(2000, 6, 40);
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(6, {8}, 1, 41));
  const FlatParams start = model->GetParameters();
  TrainOptions options = DpOptions(1.0, 1.0, 100, /*seed=*/42);
  options.optimizer.learning_rate = 0.5;
  options.epochs = 5;
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start, options));
  EvalOptions eval;
  ASSERT_OK_AND_ASSIGN(Evaluation before,
                       Evaluate(*model, data.features, data.targets, start, eval));
  ASSERT_OK_AND_ASSIGN(Evaluation after,
                       Evaluate(*model, data.features, data.targets, result.params, eval));
  EXPECT_LT(after.loss_sum, 0.6 * before.loss_sum);
  EXPECT_GE(after.correct, 1800);  // >= 90%
}

TEST(DpSgdTest, FallbackPathTrainsLikeTheClosedForm) {
  // The built-in MLP and its TorchScript export (per-example autograd) under
  // the same test seed draw the same lots and the same noise, so DP-SGD
  // reaches the same parameters up to float rounding.
  const Data data = SeparableData(60, 4, 43);
  ASSERT_OK_AND_ASSIGN(auto builtin, Model::Mlp(4, {5}, 1, 44));
  ASSERT_OK_AND_ASSIGN(auto scripted, ReloadAsTorchScript(*builtin));
  const FlatParams start = builtin->GetParameters();
  TrainOptions options = DpOptions(0.3, 0.8, 10, /*seed=*/45);
  options.optimizer.learning_rate = 0.2;
  ASSERT_OK_AND_ASSIGN(TrainResult fast, Train(*builtin, data.features, data.targets, start, options));
  ASSERT_OK_AND_ASSIGN(TrainResult slow, Train(*scripted, data.features, data.targets, start, options));
  EXPECT_EQ(fast.examples_seen, slow.examples_seen);
  EXPECT_LT((fast.params.values() - slow.params.values()).cwiseAbs().maxCoeff(), 1e-4);
  EXPECT_GT((fast.params.values() - start.values()).cwiseAbs().maxCoeff(), 0.01);  // it moved
}

TEST(DpSgdTest, EmptyLotsStillTakeANoisyStep) {
  // 4 records at q = 1/4: a lot is empty w.p. (3/4)^4 = 0.32, so among 40
  // steps some are (all 40 non-empty has probability 2e-7). Both backends
  // must take an empty lot in their stride: it still adds noise and counts
  // as a step, as the accountant assumes.
  const Data data = SeparableData(4, 3, 48);
  ASSERT_OK_AND_ASSIGN(auto builtin, Model::LogisticRegression(3, 1, 49));
  ASSERT_OK_AND_ASSIGN(auto scripted, ReloadAsTorchScript(*builtin));
  TrainOptions options = DpOptions(1.0, 1.0, 1, /*seed=*/50);
  options.epochs = 10;
  options.optimizer.learning_rate = 0.01;
  for (Model* model : {builtin.get(), scripted.get()}) {
    const FlatParams start = model->GetParameters();
    ASSERT_OK_AND_ASSIGN(TrainResult result,
                         Train(*model, data.features, data.targets, start, options));
    EXPECT_EQ(result.steps, 40);
    EXPECT_NE(result.params.values(), start.values());
  }
}

TEST(DpSgdTest, TorchScriptFixtureTrainsPrivately) {
  const Data data = SeparableData(300, 4, 46);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const FlatParams start = model->GetParameters();
  TrainOptions options = DpOptions(1.0, 0.5, 30, /*seed=*/47);
  options.optimizer.kind = OptimizerKind::kAdam;
  options.optimizer.learning_rate = 0.05;
  options.epochs = 4;
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start, options));
  ASSERT_OK_AND_ASSIGN(Evaluation before,
                       Evaluate(*model, data.features, data.targets, start, EvalOptions{}));
  ASSERT_OK_AND_ASSIGN(Evaluation after, Evaluate(*model, data.features, data.targets,
                                                  result.params, EvalOptions{}));
  EXPECT_LT(after.loss_sum, 0.7 * before.loss_sum);
}

}  // namespace
}  // namespace tessera::model
