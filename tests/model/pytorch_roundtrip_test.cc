// Models trained and saved in C++ load in PyTorch (python3 + torch.jit.load)
// and give the outputs libtorch gives. Needs a python3 with torch (Debian's
// python3-torch); skipped with a message otherwise.
#include <fstream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/trainer.h"
#include "tests/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::model {
namespace {

using ::tessera::model::testing::Data;
using ::tessera::model::testing::MaxRelativeDifference;
using ::tessera::model::testing::PythonWithTorch;
using ::tessera::model::testing::SeparableData;
using ::tessera::model::testing::TestdataPath;
using ::tessera::model::testing::UniformVector;
using ::tessera::testing::TempDir;

class PyTorchRoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = PythonWithTorch();
    if (!python_) {
      GTEST_SKIP() << "no python3 with PyTorch found ($TESSERA_PYTHON, python3 on $PATH, "
                      "/usr/bin/python3); install Debian's python3-torch to run this test";
    }
  }

  // Writes `inputs`, runs load_in_pytorch.py on `model_path` (with
  // --as-sequential when asked) and returns the table it prints (one row per
  // example).
  Eigen::MatrixXf RunPyTorch(const std::string& model_path, const Eigen::MatrixXf& inputs,
                             bool as_sequential = false) {
    const std::string inputs_path = dir_.File("inputs.txt");
    {
      std::ofstream out(inputs_path);
      out.precision(9);
      for (Eigen::Index i = 0; i < inputs.rows(); ++i) {
        for (Eigen::Index j = 0; j < inputs.cols(); ++j) out << inputs(i, j) << " ";
        out << "\n";
      }
    }
    std::vector<std::string> argv = {*python_, TestdataPath("load_in_pytorch.py"), model_path,
                                     inputs_path};
    if (as_sequential) argv.push_back("--as-sequential");
    auto run = tessera::testing::RunCommand(argv, absl::Seconds(120));
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return {};
    EXPECT_EQ(run->exit_code, 0) << run->output;
    std::vector<std::vector<float>> rows;
    for (absl::string_view line : absl::StrSplit(run->output, '\n', absl::SkipEmpty())) {
      std::vector<float> row;
      std::istringstream fields{std::string(line)};
      float value = 0;
      while (fields >> value) row.push_back(value);
      rows.push_back(row);
    }
    if (rows.empty()) return {};
    Eigen::MatrixXf table(rows.size(), rows[0].size());
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i].size(), rows[0].size()) << run->output;
      for (size_t j = 0; j < rows[0].size() && j < rows[i].size(); ++j) {
        table(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = rows[i][j];
      }
    }
    return table;
  }

  std::optional<std::string> python_;
  TempDir dir_;
};

TEST_F(PyTorchRoundTripTest, FixtureTrainedInCppLoadsBackInPyTorch) {
  const Data data = SeparableData(256, 4, 51);
  ASSERT_OK_AND_ASSIGN(auto model, Model::LoadTorchScriptFile(TestdataPath("tiny_net.pt")));
  const FlatParams start = model->GetParameters();
  TrainOptions options;
  options.optimizer.kind = OptimizerKind::kAdam;
  options.optimizer.learning_rate = 0.05;
  options.epochs = 3;
  ASSERT_OK_AND_ASSIGN(TrainResult result,
                       Train(*model, data.features, data.targets, start, options));
  ASSERT_GT((result.params.values() - start.values()).cwiseAbs().maxCoeff(), 0.05);
  const std::string path = dir_.File("trained.pt");
  ASSERT_OK(model->SaveTorchScriptFile(path));

  const Eigen::MatrixXf inputs = data.features.topRows(16);
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf expected, model->Forward(inputs));
  const Eigen::MatrixXf pytorch = RunPyTorch(path, inputs);
  ASSERT_EQ(pytorch.rows(), 16);
  ASSERT_EQ(pytorch.cols(), 1);
  EXPECT_LT(MaxRelativeDifference(pytorch, expected), 1e-6);
}

TEST_F(PyTorchRoundTripTest, BuiltinExportsLoadInPyTorchAndIntoNnSequential) {
  // The exported module, and its state_dict loaded strictly into the
  // nn.Sequential(Linear, ReLU, ..., Linear) of the same widths, give the
  // outputs the built-in model gives.
  struct Shape {
    int64_t features;
    std::vector<int64_t> hidden;
    int64_t outputs;
  };
  for (const Shape& shape : {Shape{30, {64, 32}, 1}, Shape{5, {}, 3}}) {
    ASSERT_OK_AND_ASSIGN(auto model, Model::Mlp(shape.features, shape.hidden, shape.outputs, 52));
    ASSERT_OK(model->SetParameters(
        FlatParams::FromValues(model->spec(), UniformVector(model->spec().size(), 0.3f, 53))
            .value()));
    const std::string path = dir_.File("builtin.pt");
    ASSERT_OK(model->SaveTorchScriptFile(path));
    const int64_t rows = 12;
    const Eigen::MatrixXf inputs = Eigen::Map<const Eigen::MatrixXf>(
        UniformVector(rows * shape.features, 2.0f, 54).data(), rows, shape.features);
    ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf expected, model->Forward(inputs));
    const Eigen::MatrixXf pytorch = RunPyTorch(path, inputs, /*as_sequential=*/true);
    ASSERT_EQ(pytorch.rows(), rows) << model->Describe();
    ASSERT_EQ(pytorch.cols(), 2 * shape.outputs);  // the TorchScript module, then nn.Sequential
    EXPECT_LT(MaxRelativeDifference(pytorch.leftCols(shape.outputs), expected), 1e-5);
    EXPECT_LT(MaxRelativeDifference(pytorch.rightCols(shape.outputs), expected), 1e-5);
  }
}

}  // namespace
}  // namespace tessera::model
