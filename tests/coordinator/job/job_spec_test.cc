// Job files: a valid job parses into what the ML lead wrote, and each kind
// of mistake is reported with its key and what to write instead.
#include "coordinator/job/job_spec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kJob[] = R"([job]
name = "diabetes-readmission"
description = "30-day readmission"
dataset = "diabetes"
[model]
kind = "mlp"
hidden = [32, 16]
[schema]
label = "readmitted"
features = ["age", "sex"]
[schema.columns.age]
type = "numeric"
min = 0
max = 120
[schema.columns.sex]
type = "categorical"
categories = ["female", "male"]
[schema.columns.readmitted]
type = "binary"
[training]
optimizer = "adam"
learning_rate = 0.01
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
[privacy]
mode = "record"
epsilon = 3.0
delta = 1e-5
clip_norm = 1.5
[secure_aggregation]
threshold = 2
)";

absl::StatusOr<JobSpec> Parse(const std::string& text) {
  auto reader = ConfigReader::FromString(text, "job.toml");
  if (!reader.ok()) return reader.status();
  return ParseJobSpec(*reader);
}

// kJob with `from` replaced by `to` (which must occur).
std::string With(const std::string& from, const std::string& to) {
  std::string text = kJob;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(JobSpecTest, ParsesAValidJob) {
  ASSERT_OK_AND_ASSIGN(JobSpec spec, Parse(kJob));
  EXPECT_EQ(spec.name, "diabetes-readmission");
  EXPECT_EQ(spec.dataset, "diabetes");
  EXPECT_EQ(spec.model_kind, ModelKind::kMlp);
  EXPECT_THAT(spec.hidden_layers, ElementsAre(32, 16));
  EXPECT_EQ(spec.schema.features.size(), 2u);
  EXPECT_EQ(spec.optimizer, OptimizerKind::kAdam);
  EXPECT_EQ(spec.batch_size, 64);
  EXPECT_EQ(spec.strategy.kind, strategy::StrategyKind::kFedProx);
  EXPECT_EQ(spec.strategy.proximal_mu, 0.01);
  EXPECT_EQ(spec.rounds, 25);
  EXPECT_EQ(spec.stage_timeout, absl::Seconds(30));
  EXPECT_EQ(spec.max_attempts, 3);  // default
  EXPECT_EQ(spec.privacy_mode, PrivacyMode::kRecord);
  EXPECT_EQ(spec.target_epsilon, 3.0);
  EXPECT_FALSE(spec.noise_multiplier.has_value());
  EXPECT_EQ(spec.clip_norm, 1.5);
  EXPECT_EQ(spec.secagg_threshold, 2);
  EXPECT_EQ(spec.secagg_bit_width, 32);
}

TEST(JobSpecTest, CanonicalJsonIsStableAndComplete) {
  ASSERT_OK_AND_ASSIGN(JobSpec spec, Parse(kJob));
  const std::string json = CanonicalJson(spec);
  // Same job, keys written in another order: same bytes.
  ASSERT_OK_AND_ASSIGN(JobSpec again, Parse(With("learning_rate = 0.01\nlocal_epochs = 2",
                                                 "local_epochs = 2\nlearning_rate = 0.01")));
  EXPECT_EQ(CanonicalJson(again), json);
  EXPECT_EQ(json.find(": "), std::string::npos);  // compact
  nlohmann::json parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["privacy"]["mode"], "record");
  EXPECT_EQ(parsed["privacy"]["epsilon"], 3.0);
  EXPECT_EQ(parsed["model"]["hidden"], nlohmann::json::array({32, 16}));
  EXPECT_EQ(parsed["schema"]["features"][1]["categories"], nlohmann::json::array({"female", "male"}));
  EXPECT_EQ(parsed["schema"]["label"]["type"], "binary");
  EXPECT_EQ(parsed["strategy"]["name"], "fedprox");
  EXPECT_EQ(parsed["strategy"]["proximal_mu"], 0.01);
  // A change that matters changes the bytes.
  ASSERT_OK_AND_ASSIGN(JobSpec weaker, Parse(With("epsilon = 3.0", "epsilon = 8.0")));
  EXPECT_NE(CanonicalJson(weaker), json);
}

TEST(JobSpecTest, PrivacyModeMustBeExplicit) {
  EXPECT_THAT(Parse(With("mode = \"record\"\n", "")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing required key `privacy.mode`")));
  EXPECT_THAT(Parse(With("mode = \"record\"", "mode = \"central\"")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be one of record, site, none, not `central`")));
  // "none" carries no privacy settings at all.
  EXPECT_THAT(Parse(With("mode = \"record\"", "mode = \"none\"")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("`privacy.epsilon`: means nothing with privacy.mode = \"none\"")));
  ASSERT_OK_AND_ASSIGN(JobSpec none, Parse(With("mode = \"record\"\nepsilon = 3.0\ndelta = 1e-5\nclip_norm = 1.5",
                                                "mode = \"none\"")));
  EXPECT_EQ(none.privacy_mode, PrivacyMode::kNone);
}

TEST(JobSpecTest, PrivacyNeedsExactlyOneOfEpsilonAndNoise) {
  EXPECT_THAT(Parse(With("epsilon = 3.0", "epsilon = 3.0\nnoise_multiplier = 1.1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one of")));
  EXPECT_THAT(Parse(With("epsilon = 3.0\n", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one of")));
  ASSERT_OK_AND_ASSIGN(JobSpec fixed, Parse(With("epsilon = 3.0", "noise_multiplier = 1.1")));
  EXPECT_EQ(fixed.noise_multiplier, 1.1);
  EXPECT_THAT(Parse(With("delta = 1e-5", "delta = 0.5")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("privacy.delta")));
}

TEST(JobSpecTest, ModelKeysMustFitTheKind) {
  EXPECT_THAT(Parse(With("hidden = [32, 16]\n", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("an mlp needs model.hidden")));
  EXPECT_THAT(Parse(With("kind = \"mlp\"", "kind = \"logistic\"")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("`model.hidden`: is only for kind = \"mlp\"")));
  EXPECT_THAT(Parse(With("kind = \"mlp\"\nhidden = [32, 16]", "kind = \"torchscript\"")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs model.file")));
  EXPECT_THAT(Parse(With("hidden = [32, 16]", "hidden = [32, 0]")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("between 1 and 4096")));
}

TEST(JobSpecTest, ThresholdMustFitEverySiteCount) {
  // 3..4 sites on the complete graph: 2..3 neighbours; t = 2 is more than
  // half of 3 and at most 2. With 5 sites a site has 4 neighbours and t = 2
  // is no longer more than half.
  EXPECT_OK(Parse(kJob).status());
  EXPECT_THAT(Parse(With("max_sites = 4", "max_sites = 5")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than half of 4")));
  EXPECT_THAT(Parse(With("max_sites = 4", "max_sites = 10")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t = 2 does not fit: with 3 to 10 sites on the complete graph each "
                                 "site has 2 to 9 neighbours")));
  EXPECT_THAT(Parse(With("threshold = 2", "threshold = 3")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 2")));
  EXPECT_THAT(Parse(With("threshold = 2", "threshold = 2\nneighbours = 5")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("between 2 and rounds.min_sites - 1 (2)")));
  EXPECT_THAT(Parse(With("min_sites = 3", "min_sites = 2")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rounds.min_sites")));
}

TEST(JobSpecTest, EveryProblemIsReportedWithItsLine) {
  auto result = Parse(With("name = \"diabetes-readmission\"", "name = \"bad name!\"") +
                      "\n[extra]\nkey = 1\n");
  ASSERT_FALSE(result.ok());
  const std::string message(result.status().message());
  EXPECT_THAT(message, HasSubstr("job.toml:2:"));
  EXPECT_THAT(message, HasSubstr("letters, digits"));
  EXPECT_THAT(message, HasSubstr("unknown key `extra"));
}

TEST(JobSpecTest, StrategyIsReadAndChecked) {
  EXPECT_THAT(Parse(With("proximal_mu = 0.01\n", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("proximal_mu")));
  EXPECT_THAT(Parse(With("name = \"fedprox\"", "name = \"fedsgd\"")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fedsgd")));
  ASSERT_OK_AND_ASSIGN(JobSpec adam, Parse(With("name = \"fedprox\"\nproximal_mu = 0.01",
                                                "name = \"fedadam\"")));
  EXPECT_EQ(adam.strategy.kind, strategy::StrategyKind::kFedAdam);
  EXPECT_EQ(adam.strategy.server_learning_rate, 0.01);  // the adaptive default
}

TEST(JobSpecTest, SchemaProblemsAreReported) {
  EXPECT_THAT(Parse(With("features = [\"age\", \"sex\"]", "features = [\"age\", \"readmitted\"]")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("readmitted")));
}

}  // namespace
}  // namespace tessera::coordinator
