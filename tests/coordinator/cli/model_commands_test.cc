// The model work of `tessera job submit` and `tessera model export`, without
// a coordinator: the model and initial parameters a job file gives, and the
// exported file loading back with the coordinator's parameters.
#include "coordinator/cli/model_commands.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/data/encoder.h"
#include "common/cli.h"
#include "common/config.h"
#include "common/files.h"
#include "common/flat_params.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/model.h"
#include "tests/model/model_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "transport/object_transfer.h"

namespace tessera::cli {
namespace {

using ::tessera::model::Model;
using ::tessera::model::testing::MaxRelativeDifference;
using ::tessera::model::testing::TestdataPath;
using ::tessera::model::testing::UniformVector;
using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Four features that encode to 4 model inputs: two numeric, one binary and
// a categorical one with a single category (one one-hot column).
constexpr char kSchema[] = R"(
[schema]
label = "outcome"
features = ["age", "bmi", "smoker", "site"]
[schema.columns.age]
type = "numeric"
[schema.columns.bmi]
type = "numeric"
[schema.columns.smoker]
type = "binary"
[schema.columns.site]
type = "categorical"
categories = ["a"]
[schema.columns.outcome]
type = "binary"
[rounds]
min_sites = 3
max_sites = 4
[privacy]
mode = "none"
)";

std::string JobToml(const std::string& model_table, uint64_t seed) {
  return absl::StrCat("[job]\nname = \"t\"\ndataset = \"d\"\n", model_table,
                      "\n[split]\nseed = ", seed, "\n", kSchema);
}

coordinator::JobSpec Spec(const std::string& toml) {
  auto reader = ConfigReader::FromString(toml, "job.toml");
  EXPECT_THAT(reader.status(), IsOk());
  auto spec = coordinator::ParseJobSpec(*reader);
  EXPECT_THAT(spec.status(), IsOk());
  return spec.ok() ? *spec : coordinator::JobSpec{};
}

TEST(BuildJobModelTest, LogisticHasOneWeightPerEncodedFeatureAndIsSeededByTheJob) {
  const coordinator::JobSpec spec = Spec(JobToml("[model]\nkind = \"logistic\"", 11));
  ASSERT_EQ(agent::data::FeatureNames(spec.schema).size(), 4u);
  ASSERT_OK_AND_ASSIGN(JobModel model, BuildJobModel(spec, "/nowhere/job.toml"));
  // 4 weights and 1 bias; the values are those Model gives for seed 11.
  ASSERT_OK_AND_ASSIGN(auto expected, Model::LogisticRegression(4, 1, 11));
  EXPECT_EQ(model.initial_parameters, expected->GetParameters().values());
  EXPECT_EQ(model.initial_parameters.size(), 5);
  EXPECT_THAT(model.description, HasSubstr("4-1"));

  // The same job file gives the same model; another seed another one.
  ASSERT_OK_AND_ASSIGN(JobModel again, BuildJobModel(spec, "/nowhere/job.toml"));
  EXPECT_EQ(again.initial_parameters, model.initial_parameters);
  ASSERT_OK_AND_ASSIGN(
      JobModel other,
      BuildJobModel(Spec(JobToml("[model]\nkind = \"logistic\"", 12)), "/nowhere/job.toml"));
  EXPECT_NE(other.initial_parameters, model.initial_parameters);

  // What is uploaded as the model is TorchScript of the same network.
  ASSERT_OK_AND_ASSIGN(auto loaded, Model::LoadTorchScript(model.model_bytes));
  EXPECT_EQ(loaded->spec(), expected->spec());
  EXPECT_EQ(loaded->GetParameters().values(), model.initial_parameters);
}

TEST(BuildJobModelTest, MlpHasTheJobsHiddenLayers) {
  const coordinator::JobSpec spec = Spec(JobToml("[model]\nkind = \"mlp\"\nhidden = [8, 3]", 5));
  ASSERT_OK_AND_ASSIGN(JobModel model, BuildJobModel(spec, "job.toml"));
  // (4*8 + 8) + (8*3 + 3) + (3*1 + 1)
  EXPECT_EQ(model.initial_parameters.size(), 40 + 27 + 4);
  ASSERT_OK_AND_ASSIGN(auto expected, Model::Mlp(4, {8, 3}, 1, 5));
  EXPECT_EQ(model.initial_parameters, expected->GetParameters().values());
}

TEST(BuildJobModelTest, TorchScriptFileIsReadRelativeToTheJobFileAndSentUnchanged) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::string file, ReadFileToString(TestdataPath("tiny_net.pt"), "fixture"));
  ASSERT_THAT(WriteFileAtomically(dir.File("tiny_net.pt"), file, 0644), IsOk());
  const coordinator::JobSpec spec =
      Spec(JobToml("[model]\nkind = \"torchscript\"\nfile = \"tiny_net.pt\"", 1));
  ASSERT_OK_AND_ASSIGN(JobModel model, BuildJobModel(spec, dir.File("job.toml")));
  EXPECT_EQ(model.model_bytes, file);
  // tiny_net's parameters as saved (see tests/model/model_test.cc): 38, the scalar first at 1.5.
  ASSERT_EQ(model.initial_parameters.size(), 38);
  EXPECT_EQ(model.initial_parameters[0], 1.5f);
  EXPECT_THAT(model.description, HasSubstr("TinyNet"));

  // Not next to the job file.
  EXPECT_THAT(BuildJobModel(spec, "/nonexistent/job.toml"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/tiny_net.pt")));
}

TEST(BuildJobModelTest, TorchScriptThatDoesNotFitTheSchemaIsRefused) {
  // tiny_net takes 4 inputs; a schema of 2 features encodes to 2.
  std::string toml = JobToml(
      absl::StrCat("[model]\nkind = \"torchscript\"\nfile = \"", TestdataPath("tiny_net.pt"), "\""),
      1);
  const std::string features = R"(features = ["age", "bmi", "smoker", "site"])";
  toml.replace(toml.find(features), features.size(), R"(features = ["age", "bmi"])");
  for (const char* column :
       {"[schema.columns.smoker]\ntype = \"binary\"\n",
        "[schema.columns.site]\ntype = \"categorical\"\ncategories = [\"a\"]\n"}) {
    toml.erase(toml.find(column), std::string(column).size());
  }
  EXPECT_THAT(BuildJobModel(Spec(toml), "job.toml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model.file"), HasSubstr("must take 2 inputs"))));
}

TEST(BuildJobModelTest, FileThatIsNotTorchScriptIsRefused) {
  TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.File("model.pt"), "not a model", 0644), IsOk());
  EXPECT_THAT(
      BuildJobModel(Spec(JobToml("[model]\nkind = \"torchscript\"\nfile = \"model.pt\"", 1)),
                    dir.File("job.toml")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model.file")));
}

// The round trip the ML lead relies on: the file written by export loads
// with Model::LoadTorchScriptFile and gives the outputs of the job's network
// with the coordinator's parameters.
TEST(ExportModelTest, ExportedBuiltinLoadsBackWithTheCoordinatorsParameters) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto reference, Model::Mlp(4, {6}, 1, 3));
  ASSERT_OK_AND_ASSIGN(std::string model_bytes, reference->SerializeTorchScript());
  // Parameters as the coordinator would hold them after some rounds: not the initial ones.
  const Eigen::VectorXf trained = UniformVector(reference->spec().size(), 0.8f, 99);
  ASSERT_OK_AND_ASSIGN(FlatParams params, FlatParams::FromValues(reference->spec(), trained));
  ASSERT_THAT(reference->SetParameters(params), IsOk());

  const std::string out = dir.File("model.pt");
  ASSERT_OK_AND_ASSIGN(ExportedModel exported,
                       ExportModel(model_bytes, ParameterBytes(trained), out));
  EXPECT_EQ(exported.parameter_count, reference->spec().size());
  ASSERT_OK_AND_ASSIGN(std::string written, ReadFileToString(out, "export"));
  EXPECT_EQ(exported.sha256_hex, transport::ObjectRefOf(written).sha256_hex());
  EXPECT_EQ(exported.size_bytes, written.size());

  ASSERT_OK_AND_ASSIGN(auto loaded, Model::LoadTorchScriptFile(out));
  EXPECT_EQ(loaded->GetParameters().values(), trained);
  const Eigen::MatrixXf inputs = Eigen::MatrixXf::Random(16, 4);
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf got, loaded->Forward(inputs));
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf want, reference->Forward(inputs));
  // Eigen (built-in) and libtorch sum in different orders: float rounding only.
  EXPECT_LT(MaxRelativeDifference(got, want), 1e-5);
}

TEST(ExportModelTest, ExportedTorchScriptLoadsBackWithTheCoordinatorsParameters) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::string model_bytes,
                       ReadFileToString(TestdataPath("tiny_net.pt"), "fixture"));
  ASSERT_OK_AND_ASSIGN(auto reference, Model::LoadTorchScript(model_bytes));
  const Eigen::VectorXf trained = UniformVector(reference->spec().size(), 0.5f, 7);
  ASSERT_OK_AND_ASSIGN(FlatParams params, FlatParams::FromValues(reference->spec(), trained));
  ASSERT_THAT(reference->SetParameters(params), IsOk());

  const std::string out = dir.File("tiny_trained.pt");
  ASSERT_OK_AND_ASSIGN(ExportedModel exported,
                       ExportModel(model_bytes, ParameterBytes(trained), out));
  EXPECT_EQ(exported.parameter_count, 38);
  ASSERT_OK_AND_ASSIGN(auto loaded, Model::LoadTorchScriptFile(out));
  const Eigen::MatrixXf inputs = Eigen::MatrixXf::Random(8, 4);
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf got, loaded->Forward(inputs));
  ASSERT_OK_AND_ASSIGN(Eigen::MatrixXf want, reference->Forward(inputs));
  EXPECT_EQ(got, want);  // the same libtorch module with the same parameters
}

TEST(ExportModelTest, ParametersThatDoNotFitAreRefusedAndNothingIsWritten) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto model, Model::LogisticRegression(4, 1, 0));
  ASSERT_OK_AND_ASSIGN(std::string model_bytes, model->SerializeTorchScript());
  const std::string out = dir.File("model.pt");
  EXPECT_THAT(ExportModel(model_bytes, ParameterBytes(Eigen::VectorXf::Zero(4)), out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("5 parameters")));
  Eigen::VectorXf with_nan = Eigen::VectorXf::Zero(5);
  with_nan[2] = std::nanf("");
  EXPECT_THAT(ExportModel(model_bytes, ParameterBytes(with_nan), out),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ExportModel("not a model", ParameterBytes(Eigen::VectorXf::Zero(5)), out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the job's model")));
  EXPECT_FALSE(std::ifstream(out).good());
}

// ------------------------------------------------- the tool, as a process

tessera::testing::RunResult Tessera(std::vector<std::string> args) {
  args.insert(args.begin(), TESSERA_CLI_BIN);
  // A closed port: none of these commands may get as far as dialling it.
  auto result = tessera::testing::RunCommand(args, absl::Seconds(60),
                                             {{"TESSERA_COORDINATOR", "127.0.0.1:1"}});
  EXPECT_THAT(result.status(), IsOk());
  return result.ok() ? *result : tessera::testing::RunResult{};
}

TEST(JobCommandLineTest, MissingArgumentsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"job", "submit"},
           {"job", "show"},
           {"job", "reject", "job-1"},
           {"model", "export", "job-1"},
           {"model", "export", "job-1", "--out", "m.pt", "--round", "0"}}) {
    auto result = Tessera(args);
    EXPECT_EQ(result.exit_code, kExitUsage) << absl::StrJoin(args, " ") << "\n" << result.output;
  }
}

TEST(JobCommandLineTest, BadJobFileIsReportedWithItsLineBeforeAnyConnection) {
  TempDir dir;
  ASSERT_THAT(WriteFileAtomically(dir.File("job.toml"),
                                  JobToml("[model]\nkind = \"logistic\"\nhiden = [3]", 1), 0644),
              IsOk());
  auto result = Tessera({"job", "submit", dir.File("job.toml")});
  EXPECT_EQ(result.exit_code, kExitFailure) << result.output;
  EXPECT_THAT(result.output, HasSubstr("job.toml:6"));
  EXPECT_THAT(result.output, HasSubstr("model.hiden"));
}

TEST(JobCommandLineTest, ApproveWithoutCertificatesSaysWhichFlagIsMissing) {
  auto result = Tessera({"job", "approve", "job-1", "--yes"});
  EXPECT_EQ(result.exit_code, kExitFailure) << result.output;
  EXPECT_THAT(result.output, HasSubstr("no --ca given"));
}

TEST(JobCommandLineTest, WatchHelpDocumentsItsExitCodes) {
  auto result = Tessera({"job", "watch", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.output, HasSubstr("Exits 0 when the job completes; 1 when it is stopped"));
}

}  // namespace
}  // namespace tessera::cli
