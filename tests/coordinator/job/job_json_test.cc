// The job back from its canonical JSON: every job the job-file reader accepts
// survives CanonicalJson -> JobSpecFromJson -> CanonicalJson byte for byte,
// and malformed JSON is refused naming the key.
#include "coordinator/job/job_json.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/job/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A job touching every section; the variants below replace parts of it.
constexpr char kJob[] = R"toml([job]
name = "diabetes-readmission"
description = "30-day \"readmission\"\nrisk, naïve model\t(v2)"
dataset = "diabetes"
[model]
kind = "mlp"
hidden = [32, 16]
[schema]
label = "readmitted"
features = ["sex", "age", "smoker"]
missing = "impute"
missing_values = ["NA", "NULL", ""]
[schema.columns.age]
type = "numeric"
min = 0
max = 120.5
[schema.columns.sex]
type = "categorical"
categories = ["female", "male", "unknown"]
default = "unknown"
[schema.columns.smoker]
type = "binary"
default = "no"
[schema.columns.readmitted]
type = "binary"
[split]
holdout_fraction = 0.15
seed = 9223372036854775807
[training]
optimizer = "adam"
learning_rate = 0.013
local_epochs = 2
batch_size = 64
[strategy]
name = "fedprox"
proximal_mu = 0.01
[rounds]
count = 25
min_sites = 3
max_sites = 4
stage_timeout_seconds = 30
max_attempts = 5
[privacy]
mode = "record"
epsilon = 3.7
delta = 1e-5
clip_norm = 1.5
[secure_aggregation]
threshold = 2
bit_width = 24
)toml";

// kJob with each `from` replaced by its `to` (each must occur).
std::string With(std::vector<std::pair<std::string, std::string>> edits) {
  std::string text = kJob;
  for (const auto& [from, to] : edits) {
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return text;
}

absl::StatusOr<JobSpec> ParseToml(const std::string& text) {
  absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(text, "job.toml");
  if (!reader.ok()) return reader.status();
  return ParseJobSpec(*reader);
}

// The canonical JSON of kJob after `edits`, through nlohmann so that a test
// can break one field of it.
nlohmann::json CanonicalOf(std::vector<std::pair<std::string, std::string>> edits = {}) {
  absl::StatusOr<JobSpec> spec = ParseToml(With(std::move(edits)));
  EXPECT_OK(spec);
  return nlohmann::json::parse(spec.ok() ? CanonicalJson(*spec) : "{}");
}

TEST(JobJsonTest, RoundTripsEveryKindOfJob) {
  const std::string kRecordPrivacy =
      "mode = \"record\"\nepsilon = 3.7\ndelta = 1e-5\nclip_norm = 1.5";
  const std::string kFedProx = "name = \"fedprox\"\nproximal_mu = 0.01";
  const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>
      variants = {
          {"mlp, record epsilon, fedprox, impute", {}},
          {"logistic", {{"kind = \"mlp\"\nhidden = [32, 16]", "kind = \"logistic\""}}},
          {"torchscript",
           {{"kind = \"mlp\"\nhidden = [32, 16]", "kind = \"torchscript\"\nfile = \"model.pt\""}}},
          {"record, fixed noise",
           {{kRecordPrivacy, "mode = \"record\"\nnoise_multiplier = 1.1\nclip_norm = 0.75"}}},
          {"site, epsilon",
           {{kRecordPrivacy, "mode = \"site\"\nepsilon = 8\ndelta = 1e-7\nclip_norm = 2"}}},
          {"site, fixed noise", {{kRecordPrivacy, "mode = \"site\"\nnoise_multiplier = 0.9"}}},
          {"no privacy", {{kRecordPrivacy, "mode = \"none\""}}},
          {"fedavg", {{kFedProx, "name = \"fedavg\""}}},
          {"fedavg uniform", {{kFedProx, "name = \"fedavg\"\naveraging = \"uniform\""}}},
          {"fedavgm",
           {{kFedProx, "name = \"fedavgm\"\nmomentum = 0.5\nserver_learning_rate = 0.7"}}},
          {"fedadagrad", {{kFedProx, "name = \"fedadagrad\"\nbeta1 = 0.8\ntau = 0.01"}}},
          {"fedadam",
           {{kFedProx, "name = \"fedadam\"\nbeta2 = 0.999\nserver_learning_rate = 0.03"}}},
          {"fedyogi", {{kFedProx, "name = \"fedyogi\""}}},
          {"skip missing rows",
           {{"missing = \"impute\"", "missing = \"skip\""},
            {"default = \"unknown\"\n", ""},
            {"default = \"no\"\n", ""}}},
          {"numeric label (regression)",
           {{"[schema.columns.readmitted]\ntype = \"binary\"",
             "[schema.columns.readmitted]\ntype = \"numeric\"\nmin = -3.25"}}},
          {"sparse neighbour graph",
           {{"min_sites = 3\nmax_sites = 4", "min_sites = 5\nmax_sites = 9"},
            {"threshold = 2", "threshold = 3\nneighbours = 4"}}},
          {"defaults only",
           {{"[split]\nholdout_fraction = 0.15\nseed = 9223372036854775807\n", ""},
            {"max_attempts = 5\n", ""},
            {"bit_width = 24\n", ""}}},
      };
  for (const auto& [label, edits] : variants) {
    SCOPED_TRACE(label);
    ASSERT_OK_AND_ASSIGN(JobSpec spec, ParseToml(With(edits)));
    const std::string json = CanonicalJson(spec);
    ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(json));
    EXPECT_EQ(CanonicalJson(back), json);
    // A few fields read directly, so that the comparison above cannot pass
    // by both sides losing the same thing.
    EXPECT_EQ(back.name, spec.name);
    EXPECT_EQ(back.description, spec.description);
    EXPECT_EQ(back.split.seed, spec.split.seed);
    EXPECT_EQ(back.learning_rate, spec.learning_rate);
    EXPECT_EQ(back.strategy.kind, spec.strategy.kind);
    EXPECT_EQ(back.target_epsilon, spec.target_epsilon);
    EXPECT_EQ(back.noise_multiplier, spec.noise_multiplier);
    EXPECT_EQ(back.schema.features.size(), spec.schema.features.size());
    EXPECT_EQ(back.secagg_neighbours, spec.secagg_neighbours);
  }
}

TEST(JobJsonTest, KeepsFieldsTheJsonCarries) {
  ASSERT_OK_AND_ASSIGN(JobSpec spec, ParseToml(kJob));
  ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(CanonicalJson(spec)));
  // Feature order is the model's input order, not sorted.
  ASSERT_EQ(back.schema.features.size(), 3u);
  EXPECT_EQ(back.schema.features[0].name, "sex");
  EXPECT_EQ(back.schema.features[1].name, "age");
  EXPECT_EQ(back.schema.features[2].name, "smoker");
  EXPECT_THAT(back.schema.features[0].categories, ElementsAre("female", "male", "unknown"));
  EXPECT_EQ(back.schema.features[1].max, 120.5);
  EXPECT_EQ(back.schema.features[2].default_value, "no");
  EXPECT_EQ(back.schema.label.name, "readmitted");
  EXPECT_THAT(back.schema.missing_values, ElementsAre("NA", "NULL", ""));
  EXPECT_EQ(back.schema.missing_policy, agent::data::MissingPolicy::kImpute);
  EXPECT_EQ(back.strategy.proximal_mu, 0.01);
  EXPECT_EQ(back.stage_timeout, absl::Seconds(30));
  EXPECT_EQ(back.secagg_bit_width, 24);
  EXPECT_EQ(back.delta, 1e-5);
}

TEST(JobJsonTest, TorchScriptJobComesBackWithoutItsFile) {
  ASSERT_OK_AND_ASSIGN(JobSpec spec,
                       ParseToml(With({{"kind = \"mlp\"\nhidden = [32, 16]",
                                        "kind = \"torchscript\"\nfile = \"m.pt\""}})));
  ASSERT_OK_AND_ASSIGN(JobSpec back, JobSpecFromJson(CanonicalJson(spec)));
  EXPECT_EQ(back.model_kind, ModelKind::kTorchScript);
  EXPECT_EQ(back.model_file, "");
  nlohmann::json json = nlohmann::json::parse(CanonicalJson(spec));
  json["model"]["file"] = "m.pt";
  EXPECT_THAT(JobSpecFromJson(json.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("`model.file`")));
}

TEST(JobJsonTest, RefusesTextThatIsNotAJsonObject) {
  EXPECT_THAT(JobSpecFromJson(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(JobSpecFromJson("{\"job\": "),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
  EXPECT_THAT(JobSpecFromJson("[1, 2]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be a JSON object")));
  EXPECT_THAT(JobSpecFromJson("{\"rounds\": {\"count\": 1e400}}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid JSON")));
}

// Breaks one field of the canonical JSON and expects INVALID_ARGUMENT whose
// message names `key` and has no line numbers of the hidden job file.
void ExpectRefused(const std::function<void(nlohmann::json&)>& edit, const std::string& key,
                   const std::string& problem = "") {
  nlohmann::json json = CanonicalOf();
  edit(json);
  absl::StatusOr<JobSpec> spec = JobSpecFromJson(json.dump());
  EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument,
                             AllOf(HasSubstr(absl::StrCat("`", key, "`")), HasSubstr(problem),
                                   Not(::testing::ContainsRegex("job JSON:[0-9]")))))
      << key;
}

TEST(JobJsonTest, NamesTheKeyOfAMissingField) {
  ExpectRefused([](nlohmann::json& j) { j["job"].erase("name"); }, "job.name", "missing");
  ExpectRefused([](nlohmann::json& j) { j["privacy"].erase("mode"); }, "privacy.mode", "missing");
  ExpectRefused([](nlohmann::json& j) { j["model"].erase("kind"); }, "model.kind", "missing");
  ExpectRefused([](nlohmann::json& j) { j["schema"].erase("label"); }, "schema.label", "missing");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"][1].erase("name"); },
                "schema.features[1].name", "missing");
  // The privacy rules between fields: neither epsilon nor a noise multiplier.
  ExpectRefused([](nlohmann::json& j) { j["privacy"].erase("epsilon"); }, "privacy.mode",
                "exactly one of");
}

TEST(JobJsonTest, NamesTheKeyOfAWrongType) {
  ExpectRefused([](nlohmann::json& j) { j["rounds"]["count"] = "25"; }, "rounds.count");
  ExpectRefused([](nlohmann::json& j) { j["rounds"]["count"] = 25.5; }, "rounds.count");
  ExpectRefused([](nlohmann::json& j) { j["training"]["learning_rate"] = "fast"; },
                "training.learning_rate");
  ExpectRefused([](nlohmann::json& j) { j["job"]["name"] = nullptr; }, "job.name", "null");
  ExpectRefused([](nlohmann::json& j) { j["model"]["hidden"] = {32, "16"}; }, "model.hidden");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"] = "age"; }, "schema.features");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"][0] = 7; }, "schema.features[0]");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["label"]["name"] = 3; }, "schema.label.name");
  ExpectRefused([](nlohmann::json& j) { j["split"]["seed"] = 18446744073709551615u; }, "split.seed",
                "out of range");
}

TEST(JobJsonTest, NamesTheKeyOfAnOutOfRangeValue) {
  ExpectRefused([](nlohmann::json& j) { j["rounds"]["count"] = 0; }, "rounds.count");
  ExpectRefused([](nlohmann::json& j) { j["rounds"]["min_sites"] = 2; }, "rounds.min_sites");
  ExpectRefused([](nlohmann::json& j) { j["privacy"]["delta"] = 0.5; }, "privacy.delta");
  ExpectRefused([](nlohmann::json& j) { j["privacy"]["epsilon"] = -1.0; }, "privacy.epsilon");
  ExpectRefused([](nlohmann::json& j) { j["secure_aggregation"]["bit_width"] = 33; },
                "secure_aggregation.bit_width");
  ExpectRefused([](nlohmann::json& j) { j["secure_aggregation"]["threshold"] = 1; },
                "secure_aggregation.threshold");
  ExpectRefused([](nlohmann::json& j) { j["job"]["name"] = "has space"; }, "job.name");
  ExpectRefused([](nlohmann::json& j) { j["split"]["holdout_fraction"] = 1.0; },
                "split.holdout_fraction");
  ExpectRefused([](nlohmann::json& j) { j["model"]["hidden"] = {32, 0}; }, "model.hidden");
}

TEST(JobJsonTest, AppliesTheSchemaAndStrategyRules) {
  // ValidateSchema / ParseSchema: a categorical column needs categories, a
  // repeated column is refused, the label cannot be a feature.
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"][0].erase("categories"); },
                "schema.columns.sex.categories");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"][2]["name"] = "sex"; },
                "schema.features[2].name", "repeats");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["label"]["name"] = "age"; },
                "schema.label.name", "cannot also be a feature");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"][1]["type"] = "date"; },
                "schema.columns.age.type");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["missing"] = "guess"; }, "schema.missing");
  // ParseStrategyConfig / ValidateStrategyConfig: a parameter that does not
  // apply, FedProx without mu, an unknown strategy.
  ExpectRefused([](nlohmann::json& j) { j["strategy"]["momentum"] = 0.5; }, "strategy.momentum",
                "does not apply");
  ExpectRefused([](nlohmann::json& j) { j["strategy"]["proximal_mu"] = 0.0; },
                "strategy.proximal_mu");
  ExpectRefused([](nlohmann::json& j) { j["strategy"]["name"] = "fedsgd"; }, "strategy.name");
}

TEST(JobJsonTest, RefusesUnknownKeys) {
  ExpectRefused([](nlohmann::json& j) { j["rounds"]["cout"] = 3; }, "rounds.cout", "unknown");
  ExpectRefused([](nlohmann::json& j) { j["extra"] = {{"x", 1}}; }, "extra.x", "unknown");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["columns"] = nlohmann::json::object(); },
                "schema.columns");
  ExpectRefused([](nlohmann::json& j) { j["schema"]["features"][1]["mean"] = 50.0; },
                "schema.columns.age.mean", "unknown");
}

}  // namespace
}  // namespace tessera::coordinator
