#include "model/trainer.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/roc_auc.h"
#include "tests/model/model_test_util.h"
#include "tests/testing/status_matchers.h"

namespace tessera::model {
namespace {

using ::tessera::model::testing::Data;
using ::tessera::model::testing::ReloadAsTorchScript;
using ::tessera::model::testing::SeparableData;
using ::tessera::model::testing::TestdataPath;
using ::tessera::model::testing::ThreeClassData;
using ::tessera::model::testing::UniformVector;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

double MeanLoss(Model& model, const Data& data, const FlatParams& params, LossKind loss) {
  EvalOptions options;
  options.loss = loss;
  auto evaluation = Evaluate(model, data.features, data.targets, params, options);
  EXPECT_TRUE(evaluation.ok()) << evaluation.status();
  return evaluation->loss_sum / static_cast<double>(evaluation->examples);
}

TrainOptions Options(LossKind loss, OptimizerKind optimizer, double learning_rate) {
  TrainOptions options;
  options.loss = loss;
  options.optimizer.kind = optimizer;
  options.optimizer.learning_rate = learning_rate;
  options.epochs = 5;
  options.batch_size = 32;
  options.seed = 99;
  return options;
}

struct LearnCase {
  std::string name;
  std::vector<int64_t> hidden;
  OptimizerKind optimizer;
  double learning_rate;
};

class LearnsSeparableProblemTest : public ::testing::TestWithParam<LearnCase> {};

TEST_P(LearnsSeparableProblemTest, LossFallsAndAccuracyIsHigh) {
  const LearnCase& c = GetParam();
  const Data data = SeparableData(600, 8, 1);
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(8, c.hidden, 1, /*init_seed=*/2));
  const FlatParams start = model->GetParameters();
  const LossKind loss = LossKind::kBinaryCrossEntropyWithLogits;
  const double before = MeanLoss(*model, data, start, loss);
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start,
                             Options(loss, c.optimizer, c.learning_rate)));
  EXPECT_EQ(result.steps, 5 * 19);  // ceil(600 / 32) = 19 per epoch
  EXPECT_EQ(result.examples_seen, 5 * 600);
  EXPECT_FALSE(result.dp.has_value());
  EXPECT_EQ(model->GetParameters().values(), result.params.values());
  const double after = MeanLoss(*model, data, result.params, loss);
  EXPECT_LT(after, 0.4 * before) << "before " << before << " after " << after;
  // The training-time mean loss lies between the start and end losses.
  EXPECT_LT(result.mean_loss, before);
  EXPECT_GT(result.mean_loss, after);
  ASSERT_OK_AND_ASSIGN(Evaluation evaluation, Evaluate(*model, data.features, data.targets,
                                                       result.params, EvalOptions{}));
  EXPECT_GE(evaluation.correct, 570);  // >= 95% of 600
}

INSTANTIATE_TEST_SUITE_P(
    Builtins, LearnsSeparableProblemTest,
    ::testing::Values(LearnCase{"LogisticRegressionSgd", {}, OptimizerKind::kSgd, 0.5},
                      LearnCase{"MlpSgd", {16, 8}, OptimizerKind::kSgd, 0.2},
                      LearnCase{"MlpAdam", {16, 8}, OptimizerKind::kAdam, 0.01}),
    [](const ::testing::TestParamInfo<LearnCase>& param) { return param.param.name; });

TEST(TrainerTest, TorchScriptFixtureLearns) {
  const Data data = SeparableData(400, 4, 3);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const FlatParams start = model->GetParameters();
  const LossKind loss = LossKind::kBinaryCrossEntropyWithLogits;
  const double before = MeanLoss(*model, data, start, loss);
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start,
                             Options(loss, OptimizerKind::kAdam, 0.02)));
  EXPECT_LT(MeanLoss(*model, data, result.params, loss), 0.4 * before);
}

TEST(TrainerTest, MultiClassAndRegressionLearn) {
  const Data classes = ThreeClassData(300, 5, 4);
  ASSERT_OK_AND_ASSIGN(auto classifier, Model::Mlp(5, {12}, 3, 5));
  const FlatParams start = classifier->GetParameters();
  const double before = MeanLoss(*classifier, classes, start, LossKind::kCrossEntropy);
  ASSERT_OK_AND_ASSIGN(TrainResult trained,
                       Train(*classifier, classes.features, classes.targets, start,
                             Options(LossKind::kCrossEntropy, OptimizerKind::kSgd, 0.1)));
  EXPECT_LT(MeanLoss(*classifier, classes, trained.params, LossKind::kCrossEntropy),
            0.3 * before);
  EvalOptions eval;
  eval.loss = LossKind::kCrossEntropy;
  ASSERT_OK_AND_ASSIGN(Evaluation evaluation, Evaluate(*classifier, classes.features,
                                                       classes.targets, trained.params, eval));
  EXPECT_GE(evaluation.correct, 270);  // >= 90%: the blobs are 2.5 sd apart
  EXPECT_TRUE(evaluation.positive_histogram.empty());

  // y = 2 x0 - x1 + 0.5, learnt by linear regression.
  Data line = SeparableData(200, 2, 6);
  for (Eigen::Index i = 0; i < 200; ++i) {
    line.targets[i] = 2 * line.features(i, 0) - line.features(i, 1) + 0.5f;
  }
  ASSERT_OK_AND_ASSIGN(auto regression, Model::LogisticRegression(2, 1, 7));
  TrainOptions options = Options(LossKind::kMeanSquaredError, OptimizerKind::kSgd, 0.05);
  options.epochs = 20;
  ASSERT_OK_AND_ASSIGN(TrainResult fitted, Train(*regression, line.features, line.targets,
                                                 regression->GetParameters(), options));
  EXPECT_NEAR(fitted.params.values()[0], 2.0f, 1e-3);
  EXPECT_NEAR(fitted.params.values()[1], -1.0f, 1e-3);
  EXPECT_NEAR(fitted.params.values()[2], 0.5f, 1e-3);
}

TEST(TrainerTest, SgdStepIsMinusLearningRateTimesMeanGradient) {
  const Data data = SeparableData(50, 3, 8);
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(3, {4}, 1, 9));
  const FlatParams start = model->GetParameters();
  TrainOptions options = Options(LossKind::kBinaryCrossEntropyWithLogits, OptimizerKind::kSgd, 0.3);
  options.epochs = 1;
  options.batch_size = 50;  // one step over every example
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start, options));
  ASSERT_EQ(result.steps, 1);
  Eigen::VectorXf gradient;
  ASSERT_OK(model->Gradient(start.values(), data.features, data.targets, options.loss, &gradient)
                .status());
  const Eigen::VectorXf expected = start.values() - 0.3f * gradient / 50.0f;
  EXPECT_LT((result.params.values() - expected).cwiseAbs().maxCoeff(), 1e-6);
}

TEST(TrainerTest, AdamFirstStepMovesEachParameterByTheLearningRate) {
  // Kingma & Ba 2015, §2.1: with bias correction, the first step is
  // lr * g / (|g| + eps), i.e. lr * sign(g) when |g| >> eps.
  const Data data = SeparableData(40, 3, 10);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1, 11));
  const FlatParams start = model->GetParameters();
  TrainOptions options = Options(LossKind::kBinaryCrossEntropyWithLogits, OptimizerKind::kAdam, 0.01);
  options.epochs = 1;
  options.batch_size = 40;
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start, options));
  Eigen::VectorXf gradient;
  ASSERT_OK(model->Gradient(start.values(), data.features, data.targets, options.loss, &gradient)
                .status());
  for (Eigen::Index j = 0; j < gradient.size(); ++j) {
    ASSERT_GT(std::abs(gradient[j]), 1e-3);
    const float sign = gradient[j] > 0 ? 1.0f : -1.0f;
    EXPECT_NEAR(result.params.values()[j] - start.values()[j], -0.01f * sign, 1e-6) << j;
  }
}

TEST(TrainerTest, MomentumAccumulatesAsTorchSgd) {
  // torch.optim.SGD with momentum m: b1 = g1, b2 = m b1 + g2; w2 = w1 - lr b2.
  // With a gradient that does not depend on w (MSE on a bias-only effect:
  // features 0, so only the bias moves and its gradient is 2 (b - y)), two
  // full-batch steps from b0 = 0 with y = 1, lr = 0.1, m = 0.5:
  // g1 = -2 -> b1 = 0.2; g2 = 2 (0.2 - 1) = -1.6, buffer = -1 - 1.6 = -2.6
  // -> b2 = 0.2 + 0.26 = 0.46.
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(1, 1));
  const FlatParams start = FlatParams::Zeros(model->spec());
  TrainOptions options = Options(LossKind::kMeanSquaredError, OptimizerKind::kSgd, 0.1);
  options.optimizer.momentum = 0.5;
  options.epochs = 2;
  options.batch_size = 4;
  ASSERT_OK_AND_ASSIGN(TrainResult result, Train(*model, Eigen::MatrixXf::Zero(4, 1),
                                                 Eigen::VectorXf::Ones(4), start, options));
  EXPECT_NEAR(result.params.values()[1], 0.46f, 1e-6);
  EXPECT_EQ(result.params.values()[0], 0.0f);
}

TEST(TrainerTest, FedProxPullsTowardsTheGlobalWeights) {
  const Data data = SeparableData(300, 6, 12);
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(6, {8}, 1, 13));
  const FlatParams global = model->GetParameters();
  std::vector<double> distances;
  for (double mu : {0.0, 0.1, 1.0, 10.0}) {
    TrainOptions options = Options(LossKind::kBinaryCrossEntropyWithLogits, OptimizerKind::kSgd, 0.05);
    options.proximal_mu = mu;
    ASSERT_OK_AND_ASSIGN(TrainResult result,
                         Train(*model, data.features, data.targets, global, options));
    distances.push_back((result.params.values() - global.values()).norm());
  }
  // The larger mu, the closer the local weights stay to the global ones.
  for (size_t i = 1; i < distances.size(); ++i) EXPECT_LT(distances[i], distances[i - 1]) << i;
  EXPECT_LT(distances[3], 0.3 * distances[0]);
  EXPECT_GT(distances[0], 0.1);
}

TEST(TrainerTest, FedProxAddsMuTimesDistanceToTheGradient) {
  // Worked by hand, as in MomentumAccumulatesAsTorchSgd: zero features, so
  // only the bias b learns; MSE against y = 1 gives the data gradient
  // 2 (b - 1), and FedProx adds mu (b - b_global). From b = b_global = 0,
  // lr = 0.1, mu = 2: step 1: g = -2 (the proximal term is zero at the
  // global weights) -> b = 0.2; step 2: g = 2 (0.2 - 1) + 2 (0.2 - 0) = -1.2
  // -> b = 0.32. Without the term, step 2 has g = -1.6 -> b = 0.36.
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(1, 1));
  const FlatParams global = FlatParams::Zeros(model->spec());
  TrainOptions options = Options(LossKind::kMeanSquaredError, OptimizerKind::kSgd, 0.1);
  options.epochs = 2;
  options.batch_size = 4;
  ASSERT_OK_AND_ASSIGN(TrainResult plain, Train(*model, Eigen::MatrixXf::Zero(4, 1),
                                                Eigen::VectorXf::Ones(4), global, options));
  options.proximal_mu = 2.0;
  ASSERT_OK_AND_ASSIGN(TrainResult prox, Train(*model, Eigen::MatrixXf::Zero(4, 1),
                                               Eigen::VectorXf::Ones(4), global, options));
  EXPECT_NEAR(plain.params.values()[1], 0.36f, 1e-6);
  EXPECT_NEAR(prox.params.values()[1], 0.32f, 1e-6);
}

TEST(TrainerTest, SameSeedGivesBitIdenticalParameters) {
  const Data data = SeparableData(200, 5, 16);
  for (bool torchscript : {false, true}) {
    std::unique_ptr<Model> model;
    if (torchscript) {
      ASSERT_OK_AND_ASSIGN(auto builtin, Model::Mlp(5, {6}, 1, 17));
      ASSERT_OK_AND_ASSIGN(model, ReloadAsTorchScript(*builtin));
    } else {
      ASSERT_OK_AND_ASSIGN(model, Model::Mlp(5, {6}, 1, 17));
    }
    const FlatParams start = model->GetParameters();
    TrainOptions options = Options(LossKind::kBinaryCrossEntropyWithLogits, OptimizerKind::kAdam, 0.01);
    options.epochs = 2;
    ASSERT_OK_AND_ASSIGN(TrainResult a, Train(*model, data.features, data.targets, start, options));
    ASSERT_OK_AND_ASSIGN(TrainResult b, Train(*model, data.features, data.targets, start, options));
    options.seed = 100;
    ASSERT_OK_AND_ASSIGN(TrainResult c, Train(*model, data.features, data.targets, start, options));
    EXPECT_EQ(a.params.values(), b.params.values()) << "torchscript " << torchscript;
    EXPECT_EQ(a.mean_loss, b.mean_loss);
    EXPECT_NE(a.params.values(), c.params.values());  // the seed drives the shuffling
  }
}

TEST(TrainerTest, TorchScriptAndBuiltinTrainAlike) {
  // The same model through both backends, same seed: the same batches and
  // steps, so the results agree up to float rounding.
  const Data data = SeparableData(128, 5, 18);
  ASSERT_OK_AND_ASSIGN(auto builtin, Model::Mlp(5, {6}, 1, 19));
  ASSERT_OK_AND_ASSIGN(auto scripted, ReloadAsTorchScript(*builtin));
  const FlatParams start = builtin->GetParameters();
  TrainOptions options = Options(LossKind::kBinaryCrossEntropyWithLogits, OptimizerKind::kSgd, 0.1);
  options.epochs = 2;
  options.threads = 2;
  ASSERT_OK_AND_ASSIGN(TrainResult a, Train(*builtin, data.features, data.targets, start, options));
  ASSERT_OK_AND_ASSIGN(TrainResult b, Train(*scripted, data.features, data.targets, start, options));
  EXPECT_LT((a.params.values() - b.params.values()).cwiseAbs().maxCoeff(), 1e-4);
  EXPECT_GT((a.params.values() - start.values()).cwiseAbs().maxCoeff(), 0.05);
}

TEST(TrainerTest, RejectsBadInputs) {
  const Data data = SeparableData(20, 3, 20);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  ASSERT_OK_AND_ASSIGN(auto other, Model::LogisticRegression(4, 1));
  const FlatParams start = model->GetParameters();
  const TrainOptions good = Options(LossKind::kBinaryCrossEntropyWithLogits, OptimizerKind::kSgd, 0.1);
  const auto invalid = absl::StatusCode::kInvalidArgument;

  EXPECT_THAT(Train(*model, data.features, data.targets, other->GetParameters(), good),
              StatusIs(invalid, HasSubstr("do not fit")));
  EXPECT_THAT(Train(*model, Eigen::MatrixXf::Zero(20, 4), data.targets, start, good),
              StatusIs(invalid, HasSubstr("takes 3 features")));
  EXPECT_THAT(Train(*model, data.features, Eigen::VectorXf::Zero(19), start, good),
              StatusIs(invalid, HasSubstr("19 targets")));
  EXPECT_THAT(Train(*model, Eigen::MatrixXf(0, 3), Eigen::VectorXf(0), start, good),
              StatusIs(invalid, HasSubstr("no examples")));
  Eigen::VectorXf bad_labels = data.targets;
  bad_labels[7] = 3;
  EXPECT_THAT(Train(*model, data.features, bad_labels, start, good),
              StatusIs(invalid, HasSubstr("example 7")));
  Eigen::MatrixXf nan_features = data.features;
  nan_features(2, 1) = std::nanf("");
  EXPECT_THAT(Train(*model, nan_features, data.targets, start, good), StatusIs(invalid));

  for (auto mutate : std::vector<std::function<void(TrainOptions&)>>{
           [](TrainOptions& o) { o.epochs = 0; },
           [](TrainOptions& o) { o.batch_size = 0; },
           [](TrainOptions& o) { o.threads = 0; },
           [](TrainOptions& o) { o.proximal_mu = -1; },
           [](TrainOptions& o) { o.optimizer.learning_rate = 0; },
           [](TrainOptions& o) { o.optimizer.momentum = 1; },
           [](TrainOptions& o) {
             o.optimizer.kind = OptimizerKind::kAdam;
             o.optimizer.beta2 = 1;
           },
           [](TrainOptions& o) {
             o.dp.enabled = true;
             o.dp.clip_norm = 0;
           },
           [](TrainOptions& o) {
             o.dp.enabled = true;
             o.dp.noise_multiplier = -0.5;
           }}) {
    TrainOptions options = good;
    mutate(options);
    EXPECT_THAT(Train(*model, data.features, data.targets, start, options), StatusIs(invalid));
  }
}

TEST(TrainerTest, DivergenceIsReported) {
  const Data data = SeparableData(64, 3, 21);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  Data huge = data;
  huge.targets *= 1e30f;  // MSE against enormous targets overflows float
  TrainOptions options = Options(LossKind::kMeanSquaredError, OptimizerKind::kSgd, 10.0);
  EXPECT_THAT(Train(*model, huge.features, huge.targets, model->GetParameters(), options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("diverged")));
}

TEST(EvaluateTest, CountsAndHistogramsAddUp) {
  const Data data = SeparableData(500, 4, 22);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(4, 1, 23));
  ASSERT_OK_AND_ASSIGN(TrainResult trained,
                       Train(*model, data.features, data.targets, model->GetParameters(),
                             Options(LossKind::kBinaryCrossEntropyWithLogits,
                                     OptimizerKind::kSgd, 0.5)));
  EvalOptions options;
  options.batch_size = 64;  // several forward batches
  ASSERT_OK_AND_ASSIGN(Evaluation evaluation, Evaluate(*model, data.features, data.targets,
                                                       trained.params, options));
  EXPECT_EQ(evaluation.examples, 500);
  ASSERT_EQ(evaluation.positive_histogram.size(), 64u);
  ASSERT_EQ(evaluation.negative_histogram.size(), 64u);
  int64_t positives = 0, negatives = 0;
  for (size_t b = 0; b < 64; ++b) {
    positives += evaluation.positive_histogram[b];
    negatives += evaluation.negative_histogram[b];
  }
  EXPECT_EQ(positives, static_cast<int64_t>(data.targets.sum()));
  EXPECT_EQ(negatives, 500 - positives);
  // Against a direct computation on the model's outputs.
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf logits, model->Forward(data.features));
  double loss_sum = 0;
  int64_t correct = 0;
  for (Eigen::Index i = 0; i < 500; ++i) {
    const double z = logits(i, 0), y = data.targets[i];
    loss_sum += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
    correct += (z > 0) == (y == 1) ? 1 : 0;
  }
  EXPECT_NEAR(evaluation.loss_sum, loss_sum, 1e-6 * loss_sum);
  EXPECT_EQ(evaluation.correct, correct);
  ASSERT_OK_AND_ASSIGN(double auc, RocAucFromHistograms(evaluation.negative_histogram,
                                                        evaluation.positive_histogram));
  EXPECT_GT(auc, 0.97);
}

TEST(EvaluateTest, BinaryNeedsZeroOneLabels) {
  const Data data = SeparableData(10, 2, 24);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(2, 1));
  Eigen::VectorXf soft = data.targets;
  soft[4] = 0.5f;
  EXPECT_THAT(Evaluate(*model, data.features, soft, model->GetParameters(), EvalOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("example 4")));
}

}  // namespace
}  // namespace tessera::model
