#include "model/model.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::model {
namespace {

using ::tessera::model::testing::MaxRelativeDifference;
using ::tessera::model::testing::ReloadAsTorchScript;
using ::tessera::model::testing::TestdataPath;
using ::tessera::model::testing::UniformVector;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

FlatParams ParamsFrom(const Model& model, const Eigen::VectorXf& values) {
  return FlatParams::FromValues(model.spec(), values).value();
}

// The inputs and PyTorch's outputs that scripts/make_torchscript_fixture.py
// wrote next to the fixture.
struct FixtureOutputs {
  Eigen::MatrixXf inputs;
  Eigen::MatrixXf outputs;
};
FixtureOutputs ReadFixtureOutputs() {
  std::ifstream in(TestdataPath("tiny_net_outputs.txt"));
  std::vector<std::vector<float>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::vector<float> row;
    float value = 0;
    while (fields >> value) row.push_back(value);
    rows.push_back(row);
  }
  FixtureOutputs result{Eigen::MatrixXf(rows.size(), 4), Eigen::MatrixXf(rows.size(), 1)};
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < 4; ++j) result.inputs(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = rows[i][j];
    result.outputs(static_cast<Eigen::Index>(i), 0) = rows[i][4];
  }
  return result;
}

TEST(ModelTest, LogisticRegressionSpecIsWeightThenBias) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(30, 1));
  ASSERT_EQ(model->spec().tensors().size(), 2u);
  EXPECT_EQ(model->spec().tensors()[0].name, "0.weight");
  EXPECT_EQ(model->spec().tensors()[0].shape, (std::vector<int64_t>{1, 30}));
  EXPECT_EQ(model->spec().tensors()[1].name, "0.bias");
  EXPECT_EQ(model->spec().size(), 31);
  EXPECT_TRUE(model->builtin());
  EXPECT_EQ(model->inputs(), 30);
  EXPECT_EQ(model->Describe(), "built-in logistic regression 30-1");
}

TEST(ModelTest, MlpSpecFollowsNnSequentialNames) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(4, {8, 3}, 2));
  EXPECT_EQ(model->spec().Describe(),
            "0.weight[8,4] 0.bias[8] 2.weight[3,8] 2.bias[3] 4.weight[2,3] 4.bias[2] "
            "(75 parameters)");
  EXPECT_EQ(model->Describe(), "built-in MLP 4-8-3-2");
}

TEST(ModelTest, RejectsNonPositiveSizes) {
  EXPECT_THAT(Model::LogisticRegression(0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Model::LogisticRegression(3, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Model::Mlp(3, {0}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hidden layer width 0")));
}

TEST(ModelTest, InitialisationIsSeededAndWithinNnLinearBounds) {
  // nn.Linear draws weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  ASSERT_OK_AND_ASSIGN(auto a, Model::Mlp(16, {4}, 1, /*init_seed=*/7));
  ASSERT_OK_AND_ASSIGN(auto b, Model::Mlp(16, {4}, 1, /*init_seed=*/7));
  ASSERT_OK_AND_ASSIGN(auto c, Model::Mlp(16, {4}, 1, /*init_seed=*/8));
  const Eigen::VectorXf values = a->GetParameters().values();
  EXPECT_EQ(values, b->GetParameters().values());
  EXPECT_NE(values, c->GetParameters().values());
  const ModelSpec& spec = a->spec();
  for (size_t t = 0; t < spec.tensors().size(); ++t) {
    const float bound = t < 2 ? 0.25f : 0.5f;  // fan_in 16, then 4
    auto tensor = values.segment(spec.offset(t), spec.tensors()[t].NumElements());
    EXPECT_LE(tensor.cwiseAbs().maxCoeff(), bound) << spec.tensors()[t].name;
    // 64 uniform draws all in the inner half would happen with probability 2^-64.
    if (tensor.size() >= 4) {
      EXPECT_GT(tensor.cwiseAbs().maxCoeff(), bound / 2);
    }
  }
}

TEST(ModelTest, SetThenGetRoundTripsExactly) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(3, {5}, 2));
  const FlatParams params = ParamsFrom(*model, UniformVector(model->spec().size(), 0.3f, 1));
  ASSERT_OK(model->SetParameters(params));
  EXPECT_EQ(model->GetParameters().values(), params.values());
}

TEST(ModelTest, ForwardComputesTheLinearLogit) {
  // With known weights the logit is w·x + b, computed here independently.
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(3, 1));
  Eigen::VectorXf values(4);
  values << 0.5f, -1.0f, 2.0f, 0.25f;  // w = (0.5, -1, 2), b = 0.25
  ASSERT_OK(model->SetParameters(ParamsFrom(*model, values)));
  Eigen::MatrixXf batch(2, 3);
  batch << 1, 2, 3,  //
      -1, 0, 0.5;
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf logits, model->Forward(batch));
  ASSERT_EQ(logits.rows(), 2);
  ASSERT_EQ(logits.cols(), 1);
  EXPECT_FLOAT_EQ(logits(0, 0), 0.5f - 2.0f + 6.0f + 0.25f);
  EXPECT_FLOAT_EQ(logits(1, 0), -0.5f + 0.0f + 1.0f + 0.25f);
}

TEST(ModelTest, MlpForwardAppliesReluBetweenLayers) {
  // 2 inputs -> 2 hidden (ReLU) -> 1 output, worked by hand:
  // W1 = [[1, -1], [2, 1]], b1 = [0, -5], W2 = [[3, -2]], b2 = [0.5].
  // x = (2, 1): z1 = (1, 0) -> relu (1, 0) -> 3 + 0.5 = 3.5.
  // x = (-1, 3): z1 = (-4, -4) -> relu (0, 0) -> 0.5.
  ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(2, {2}, 1));
  Eigen::VectorXf values(9);
  values << 1, -1, 2, 1, 0, -5, 3, -2, 0.5f;
  ASSERT_OK(model->SetParameters(ParamsFrom(*model, values)));
  Eigen::MatrixXf batch(2, 2);
  batch << 2, 1,  //
      -1, 3;
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf logits, model->Forward(batch));
  EXPECT_FLOAT_EQ(logits(0, 0), 3.5f);
  EXPECT_FLOAT_EQ(logits(1, 0), 0.5f);
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

TEST(TorchScriptModelTest, LoadsFixtureWithRegistrationOrderSpec) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  // PyTorch lists a module's own parameters before its submodules'.
  EXPECT_EQ(model->spec().Describe(),
            "scale[] fc1.weight[6,4] fc1.bias[6] fc2.weight[1,6] fc2.bias[1] (38 parameters)");
  EXPECT_FALSE(model->builtin());
  EXPECT_EQ(model->inputs(), std::nullopt);
  EXPECT_THAT(model->Describe(), HasSubstr("TinyNet"));
  // The scalar was initialised to 1.5 in the script.
  EXPECT_EQ(model->GetParameters().values()[0], 1.5f);
}

TEST(TorchScriptModelTest, FixtureGivesPyTorchsOutputs) {
  // Expected outputs: PyTorch 1.13 on the same inputs, written by
  // scripts/make_torchscript_fixture.py into tiny_net_outputs.txt.
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const FixtureOutputs fixture = ReadFixtureOutputs();
  ASSERT_EQ(fixture.inputs.rows(), 8);
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf outputs, model->Forward(fixture.inputs));
  EXPECT_LT(MaxRelativeDifference(outputs, fixture.outputs), 1e-6);
}

TEST(TorchScriptModelTest, RejectsBytesThatAreNotTorchScript) {
  EXPECT_THAT(Model::LoadTorchScript("definitely not a zip archive"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a TorchScript")));
  EXPECT_THAT(Model::LoadTorchScriptFile("/nonexistent/model.pt"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(TorchScriptModelTest, ForwardErrorOnWrongShapeIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  EXPECT_THAT(model->Forward(Eigen::MatrixXf::Zero(3, 5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("forward failed")));
}

TEST(TorchScriptModelTest, BuiltinExportLoadsBackWithSameSpecAndOutputs) {
  ASSERT_OK_AND_ASSIGN(auto builtin, Model::Mlp(5, {7, 4}, 3, /*init_seed=*/3));
  ASSERT_OK(builtin->SetParameters(ParamsFrom(*builtin, UniformVector(builtin->spec().size(), 0.8f, 4))));
  ASSERT_OK_AND_ASSIGN(auto loaded, ReloadAsTorchScript(*builtin));
  EXPECT_EQ(loaded->spec(), builtin->spec());
  EXPECT_EQ(loaded->GetParameters().values(), builtin->GetParameters().values());
  const Eigen::MatrixXf batch = Eigen::Map<const Eigen::MatrixXf>(UniformVector(55, 2.0f, 5).data(), 11, 5);
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf expected, builtin->Forward(batch));
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf actual, loaded->Forward(batch));
  EXPECT_LT(MaxRelativeDifference(actual, expected), 1e-6);
}

TEST(TorchScriptModelTest, ExportCarriesParametersSetInCpp) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const FlatParams params = ParamsFrom(*model, UniformVector(model->spec().size(), 0.5f, 6));
  ASSERT_OK(model->SetParameters(params));
  EXPECT_EQ(model->GetParameters().values(), params.values());
  ::tessera::testing::TempDir dir;
  ASSERT_OK(model->SaveTorchScriptFile(dir.File("saved.pt")));
  ASSERT_OK_AND_ASSIGN(auto reloaded, Model::LoadTorchScriptFile(dir.File("saved.pt")));
  EXPECT_EQ(reloaded->spec(), model->spec());
  EXPECT_EQ(reloaded->GetParameters().values(), params.values());
}

TEST(TorchScriptModelTest, GradientsLeaveStoredParametersAlone) {
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const FixtureOutputs fixture = ReadFixtureOutputs();
  const Eigen::VectorXf other = UniformVector(model->spec().size(), 0.5f, 7);
  Eigen::VectorXf gradient;
  ASSERT_OK(model->Gradient(other, fixture.inputs, Eigen::VectorXf::Zero(8),
                            LossKind::kMeanSquaredError, &gradient)
                .status());
  // Forward still uses the stored (fixture) parameters.
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf outputs, model->Forward(fixture.inputs));
  EXPECT_LT(MaxRelativeDifference(outputs, fixture.outputs), 1e-6);
}

}  // namespace
}  // namespace tessera::model
