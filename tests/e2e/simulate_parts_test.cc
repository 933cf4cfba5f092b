// The parts of `tessera simulate` that need no federation: the checks on
// its flags and CSV files (schema inference), the job file it writes, the
// synthetic cohorts, the dropout controller (against a scripted secure
// round), the evaluation and baselines, and the result's JSON.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "agent/data/encoder.h"
#include "common/config.h"
#include "common/files.h"
#include "coordinator/cli/model_commands.h"
#include "coordinator/cli/simulate_cohorts.h"
#include "coordinator/cli/simulate_data.h"
#include "coordinator/cli/simulate_dropouts.h"
#include "coordinator/cli/simulate_evaluation.h"
#include "coordinator/cli/simulate_report.h"
#include "coordinator/job/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::cli {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
namespace data = agent::data;

class SimulateDataTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << text;
    return path;
  }
  TempDir dir_;
};

TEST(SimulateOptionsTest, PrivacySettingsMustFitTheMode) {
  SimulationOptions options;
  options.label = "y";
  EXPECT_THAT(ValidateOptions(options), IsOk());
  options.privacy = "none";
  options.epsilon = 3;
  EXPECT_THAT(ValidateOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--epsilon")));
  options.epsilon.reset();
  options.delta = 1e-5;
  EXPECT_THAT(ValidateOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--delta")));
  options.privacy = "record";
  options.delta = 0.5;
  EXPECT_THAT(ValidateOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--delta")));
  options.delta.reset();
  options.dropout = 1;
  EXPECT_THAT(ValidateOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--dropout")));
  options.dropout = 0.2;
  options.model = "net.onnx";
  EXPECT_THAT(ValidateOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--model")));
}

TEST(SimulateOptionsTest, SecureAggregationFitsTheSites) {
  // Fewer than 3 sites: no federation.
  EXPECT_THAT(PlanSecureAggregation(2, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--data")));
  // The smallest threshold that is more than half of the other sites.
  ASSERT_OK_AND_ASSIGN(SecAggPlan three, PlanSecureAggregation(3, std::nullopt));
  EXPECT_EQ(three.threshold, 2);
  EXPECT_EQ(three.min_sites, 3);
  ASSERT_OK_AND_ASSIGN(SecAggPlan five, PlanSecureAggregation(5, std::nullopt));
  EXPECT_EQ(five.threshold, 3);
  EXPECT_EQ(five.min_sites, 4);
  EXPECT_EQ(five.max_sites, 5);
  ASSERT_OK_AND_ASSIGN(SecAggPlan six, PlanSecureAggregation(6, 4));
  EXPECT_EQ(six.min_sites, 5);
  // More sites needed than given, and too low a threshold.
  EXPECT_THAT(PlanSecureAggregation(5, 5),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--secagg-threshold 5"), HasSubstr("at least 6 sites"))));
  EXPECT_THAT(PlanSecureAggregation(6, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--secagg-threshold 2"), HasSubstr("too low"))));
}

TEST(SimulateOptionsTest, SiteIdsComeFromFileNames) {
  EXPECT_EQ(SiteIdFor("/data/Royal Free.csv", {}), "Royal-Free");
  EXPECT_EQ(SiteIdFor("b/rfh.csv", {"rfh"}), "rfh-2");
  EXPECT_EQ(SiteIdFor("c/rfh.csv", {"rfh", "rfh-2"}), "rfh-3");
}

TEST_F(SimulateDataTest, InfersNumericBinaryAndCategoricalColumnsFromTheFirstFile) {
  const std::string a = Write("a.csv",
                              "age,smoker,sex,ward,outcome\n"
                              "54,yes,female,2,1\n"
                              "61,no,male,,0\n"
                              "NA,yes,male,3,0\n"
                              "47,no,female,1,1\n");
  const std::string b = Write("b.csv",
                              "outcome,age,sex,smoker,ward\n"
                              "0,70.5,male,no,2\n"
                              "1,33,female,YES,1\n");
  const std::string c = Write("c.csv", "age,smoker,sex,ward,outcome\n50,no,female,1,true\n");
  ASSERT_OK_AND_ASSIGN(SimulationData loaded, LoadSimulationData({a, b, c}, "outcome"));
  ASSERT_EQ(loaded.sites.size(), 3u);
  EXPECT_EQ(loaded.sites[0].site, "a");
  EXPECT_EQ(loaded.sites[0].records, 4);
  EXPECT_EQ(loaded.sites[1].records, 2);
  const data::Schema& schema = loaded.schema;
  ASSERT_EQ(schema.features.size(), 4u);
  EXPECT_EQ(schema.features[0].name, "age");
  EXPECT_EQ(schema.features[0].type, data::ColumnType::kNumeric);
  EXPECT_EQ(schema.features[1].type, data::ColumnType::kBinary);
  EXPECT_EQ(schema.features[2].type, data::ColumnType::kCategorical);
  EXPECT_THAT(schema.features[2].categories, ElementsAre("female", "male"));
  // Small integers that are not all 0/1 are numbers, not categories.
  EXPECT_EQ(schema.features[3].type, data::ColumnType::kNumeric);
  EXPECT_EQ(schema.label.name, "outcome");
  EXPECT_EQ(schema.label.type, data::ColumnType::kBinary);
}

TEST_F(SimulateDataTest, EachBadInputIsOneLineNamingTheFileOrFlag) {
  const std::string good = Write("good.csv", "x,sex,y\n1.5,f,1\n2.5,m,0\n");
  const std::string good2 = Write("good2.csv", "x,sex,y\n3,m,1\n");
  auto error = [&](const std::vector<std::string>& files, const std::string& label) {
    auto loaded = LoadSimulationData(files, label);
    EXPECT_FALSE(loaded.ok());
    const std::string message(loaded.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  };
  EXPECT_THAT(error({good, dir_.File("missing.csv")}, "y"),
              AllOf(HasSubstr("--data"), HasSubstr("missing.csv"), HasSubstr("no such file")));
  EXPECT_THAT(error({good, Write("empty.csv", "x,sex,y\n")}, "y"),
              AllOf(HasSubstr("empty.csv"), HasSubstr("no records")));
  EXPECT_THAT(
      error({good, good2}, "outcome"),
      AllOf(HasSubstr("--label outcome"), HasSubstr("no such column"), HasSubstr("good.csv")));
  EXPECT_THAT(error({good, Write("three.csv", "x,sex,y\n1,f,2\n")}, "y"),
              AllOf(HasSubstr("--label y"), HasSubstr("not binary"), HasSubstr("three.csv"),
                    HasSubstr("line 2")));
  EXPECT_THAT(error({Write("lab.csv", "x,sex,y\n1,f,maybe\n"), good}, "y"),
              AllOf(HasSubstr("--label y"), HasSubstr("lab.csv")));
  EXPECT_THAT(error({good, Write("fewer.csv", "x,y\n1,0\n")}, "y"),
              AllOf(HasSubstr("fewer.csv"), HasSubstr("column `sex` is missing")));
  EXPECT_THAT(error({good, Write("more.csv", "x,sex,y,z\n1,f,0,4\n")}, "y"),
              AllOf(HasSubstr("more.csv"), HasSubstr("`z`")));
  EXPECT_THAT(error({good, Write("text.csv", "x,sex,y\n1,f,0\nhigh,m,1\n")}, "y"),
              AllOf(HasSubstr("text.csv line 3"), HasSubstr("column `x`"), HasSubstr("numeric")));
  EXPECT_THAT(error({good, Write("newcat.csv", "x,sex,y\n1,x,0\n")}, "y"),
              AllOf(HasSubstr("newcat.csv"), HasSubstr("column `sex`"), HasSubstr("categories")));
  EXPECT_THAT(error({good, Write("nolabel.csv", "x,sex,y\n1,f,\n")}, "y"),
              AllOf(HasSubstr("--label y"), HasSubstr("no values"), HasSubstr("nolabel.csv")));
  EXPECT_THAT(
      error({Write("ones.csv", "x,sex,y\n1.5,f,1\n"), Write("ones2.csv", "x,sex,y\n2.5,f,1\n")},
            "y"),
      AllOf(HasSubstr("--label y"), HasSubstr("both classes")));
  EXPECT_THAT(error({Write("dot.csv", "a.b,y\n1,0\n2,1\n"), good}, "y"),
              AllOf(HasSubstr("dot.csv"), HasSubstr("`a.b`")));
  // A message never carries a cell's value.
  EXPECT_THAT(error({good, Write("secret.csv", "x,sex,y\nNHS1234567,f,0\n")}, "y"),
              Not(HasSubstr("NHS1234567")));
}

TEST_F(SimulateDataTest, TheJobFileParsesAsTheInferredSchema) {
  const std::string a = Write("a.csv", "age,blood group,smoker,outcome\n54,A,1,1\n61,O,0,0\n");
  ASSERT_OK_AND_ASSIGN(SimulationData loaded, LoadSimulationData({a, a, a}, "outcome"));
  SimulationOptions options;
  options.label = "outcome";
  options.model = "mlp";
  options.hidden = {8, 4};
  options.rounds = 7;
  options.epsilon = 2.5;
  options.seed = 42;
  ASSERT_OK_AND_ASSIGN(SecAggPlan plan, PlanSecureAggregation(3, std::nullopt));
  const std::string toml = SimulationJobToml(options, loaded, plan);
  ASSERT_OK_AND_ASSIGN(ConfigReader reader, ConfigReader::FromString(toml, "job"));
  ASSERT_OK_AND_ASSIGN(coordinator::JobSpec spec, coordinator::ParseJobSpec(reader));
  EXPECT_EQ(spec.dataset, "simulation");
  EXPECT_EQ(spec.model_kind, coordinator::ModelKind::kMlp);
  EXPECT_THAT(spec.hidden_layers, ElementsAre(8, 4));
  EXPECT_EQ(spec.rounds, 7);
  EXPECT_EQ(spec.split.seed, 42u);
  EXPECT_EQ(spec.privacy_mode, coordinator::PrivacyMode::kRecord);
  EXPECT_EQ(spec.target_epsilon, 2.5);
  EXPECT_EQ(spec.delta, kDefaultDelta);
  EXPECT_EQ(spec.secagg_threshold, 2);
  EXPECT_EQ(spec.min_sites, 3);
  EXPECT_EQ(spec.max_sites, 3);
  ASSERT_EQ(spec.schema.features.size(), 3u);
  EXPECT_EQ(spec.schema.features[1].name, "blood group");
  EXPECT_THAT(spec.schema.features[1].categories, ElementsAre("A", "O"));
  EXPECT_EQ(spec.schema.features[2].type, data::ColumnType::kBinary);
  EXPECT_EQ(spec.schema.label.name, "outcome");
}

TEST(SimulateCohortsTest, SeededCohortsAreReproducibleAndFollowTheRiskModel) {
  const TrustProfile& trust = DemoTrusts()[0];
  const std::vector<SyntheticPatient> a = GenerateCohort(trust, 11);
  EXPECT_EQ(CohortCsv(a), CohortCsv(GenerateCohort(trust, 11)));
  EXPECT_NE(CohortCsv(a), CohortCsv(GenerateCohort(trust, 12)));
  ASSERT_EQ(static_cast<int64_t>(a.size()), trust.records);
  double admitted = 0, risk = 0;
  int missing_bmi = 0;
  for (const SyntheticPatient& p : a) {
    EXPECT_GE(p.age, 18);
    EXPECT_LE(p.age, 95);
    EXPECT_GE(p.systolic_bp, 85);
    EXPECT_LE(p.systolic_bp, 220);
    EXPECT_GE(p.hba1c, 25);
    EXPECT_LE(p.hba1c, 130);
    EXPECT_GE(p.creatinine, 35);
    EXPECT_LE(p.creatinine, 600);
    if (p.bmi.has_value()) {
      EXPECT_GE(*p.bmi, 15);
      EXPECT_LE(*p.bmi, 60);
    } else {
      ++missing_bmi;
    }
    // The outcome was drawn from the documented model.
    EXPECT_DOUBLE_EQ(p.risk, 1 / (1 + std::exp(-RiskLogit(p))));
    admitted += p.admitted ? 1 : 0;
    risk += p.risk;
  }
  const double n = static_cast<double>(a.size());
  // 1,300 Bernoulli draws: the admitted share is within 0.03 (about 3
  // standard deviations) of the mean risk; seeded, so it never flakes.
  EXPECT_NEAR(admitted / n, risk / n, 0.03);
  EXPECT_GT(missing_bmi, 0);
  EXPECT_LT(missing_bmi, n * 0.05);
  // Diabetics have a higher HbA1c: the covariates are related, not independent.
  double hba1c_diabetic = 0, hba1c_other = 0, diabetic = 0;
  for (const SyntheticPatient& p : a) {
    (p.diabetes ? hba1c_diabetic : hba1c_other) += p.hba1c;
    diabetic += p.diabetes ? 1 : 0;
  }
  EXPECT_GT(hba1c_diabetic / diabetic, hba1c_other / (n - diabetic) + 10);
}

TEST(SimulateCohortsTest, TrustsDifferInSizeAndCaseMixAndMakeAValidSimulation) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::vector<WrittenCohort> cohorts,
                       WriteCohorts(dir.path(), 7, 1.0, DemoTrusts()));
  ASSERT_EQ(cohorts.size(), 5u);
  std::set<int64_t> sizes;
  for (const WrittenCohort& c : cohorts) sizes.insert(c.records);
  EXPECT_EQ(sizes.size(), 5u);
  // Distribution shift: the oldest trust's mean risk is above the youngest's.
  const auto oldest = std::max_element(cohorts.begin(), cohorts.end(), [](auto& x, auto& y) {
    return x.profile.mean_age < y.profile.mean_age;
  });
  const auto youngest = std::min_element(cohorts.begin(), cohorts.end(), [](auto& x, auto& y) {
    return x.profile.mean_age < y.profile.mean_age;
  });
  EXPECT_GT(oldest->mean_risk, youngest->mean_risk + 0.02);

  std::vector<std::string> paths;
  for (const WrittenCohort& c : cohorts) paths.push_back(c.path);
  ASSERT_OK_AND_ASSIGN(SimulationData loaded, LoadSimulationData(paths, "admitted"));
  std::map<std::string, data::ColumnType> types;
  for (const auto& f : loaded.schema.features) types[f.name] = f.type;
  EXPECT_EQ(types["age"], data::ColumnType::kNumeric);
  EXPECT_EQ(types["sex"], data::ColumnType::kCategorical);
  EXPECT_EQ(types["smoking"], data::ColumnType::kCategorical);
  EXPECT_EQ(types["diabetes"], data::ColumnType::kBinary);
  EXPECT_EQ(loaded.schema.features.size(), 10u);
  EXPECT_EQ(loaded.sites[0].site, "guys");

  EXPECT_THAT(WriteCohorts(dir.path(), 7, 0, DemoTrusts()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--scale")));
}

// ------------------------------------------------------------ dropouts

// A secure round as the coordinator runs it, reduced to what the dropout
// controller can see and touch: a stage closes when every live participant
// has sent its message; a killed site is only waited for until the stage's
// deadline (one more step here); a paused agent sends nothing.
class ScriptedFederation final : public AgentControl {
 public:
  explicit ScriptedFederation(std::vector<std::string> sites) : sites_(std::move(sites)) {}

  absl::Status Pause(const std::string& site) override {
    paused_.insert(site);
    return absl::OkStatus();
  }
  absl::Status Resume(const std::string& site) override {
    paused_.erase(site);
    return absl::OkStatus();
  }
  absl::Status KillAndRestart(const std::string& site) override {
    if (in_progress_) killed_in_round_.insert(site);
    paused_.erase(site);
    // Record whether it had sent the current stage's message.
    kills_.push_back({round_, site, stage_, pending_.count(site) > 0});
    return absl::OkStatus();
  }

  RoundObservation Observe() const {
    RoundObservation o;
    o.in_progress = in_progress_;
    o.round = round_;
    o.attempt = 1;
    o.stage = stage_;
    o.pending.assign(pending_.begin(), pending_.end());
    o.last_completed_round = in_progress_ ? round_ - 1 : round_;
    return o;
  }

  // One step of the world: start the round, let every running agent
  // answer, close the stage when nobody live is pending (or at the
  // deadline for killed ones).
  void Advance() {
    if (!in_progress_) {
      ++round_;
      in_progress_ = true;
      killed_in_round_.clear();
      OpenStage(2);
      return;
    }
    for (auto it = pending_.begin(); it != pending_.end();) {
      const bool answers = paused_.count(*it) == 0 && killed_in_round_.count(*it) == 0;
      it = answers ? pending_.erase(it) : std::next(it);
    }
    bool live_pending = false;
    for (const std::string& site : pending_) live_pending |= killed_in_round_.count(site) == 0;
    if (live_pending) return;
    if (!pending_.empty() && !deadline_passed_) {
      deadline_passed_ = true;  // wait one step for the dead
      return;
    }
    if (stage_ == 6) {
      in_progress_ = false;
      pending_.clear();
      return;
    }
    OpenStage(stage_ + 1);
  }

  struct Kill {
    int64_t round;
    std::string site;
    int stage;
    bool before_message;
  };
  const std::vector<Kill>& kills() const { return kills_; }
  const std::set<std::string>& paused() const { return paused_; }
  int64_t round() const { return round_; }
  bool in_progress() const { return in_progress_; }

 private:
  void OpenStage(int stage) {
    stage_ = stage;
    deadline_passed_ = false;
    pending_.clear();
    for (const std::string& site : sites_) {
      if (killed_in_round_.count(site) == 0) pending_.insert(site);
    }
  }

  std::vector<std::string> sites_;
  std::set<std::string> paused_;
  std::set<std::string> pending_;
  std::set<std::string> killed_in_round_;
  std::vector<Kill> kills_;
  int64_t round_ = 0;  // round 0 completed before we start watching
  int stage_ = 0;
  bool in_progress_ = false;
  bool deadline_passed_ = false;
};

// Runs `rounds` rounds of the scripted federation under the controller.
// The controller does not see the world while `blind(observation, step)`
// is true (step counts the world's steps since the round started), as when
// a busy machine cannot poll in time.
std::vector<ScriptedFederation::Kill> RunScripted(
    const std::vector<PlannedDropout>& plan, int64_t rounds, bool* all_resumed,
    const std::function<bool(const RoundObservation&, int)>& blind = [](const RoundObservation&,
                                                                        int) { return false; }) {
  const std::vector<std::string> sites = {"a", "b", "c", "d", "e"};
  ScriptedFederation world(sites);
  DropoutController controller(plan, sites, 1);
  EXPECT_THAT(controller.Step(world.Observe(), world), IsOk());
  int step_in_round = 0;
  int64_t round = world.round();
  for (int step = 0; step < 1000; ++step) {
    world.Advance();
    if (world.round() != round) {
      round = world.round();
      step_in_round = 0;
    }
    ++step_in_round;
    if (!blind(world.Observe(), step_in_round)) {
      EXPECT_THAT(controller.Step(world.Observe(), world), IsOk());
    }
    if (world.round() == rounds && !world.in_progress()) break;
  }
  RoundObservation end;
  end.final = true;
  EXPECT_THAT(controller.Step(end, world), IsOk());
  *all_resumed = world.paused().empty() && controller.idle();
  EXPECT_EQ(controller.events().size(), world.kills().size());
  return world.kills();
}

TEST(SimulateDropoutsTest, EverySiteDropsAtItsPlannedStageBeforeSendingItsMessage) {
  for (int stage = 2; stage <= 6; ++stage) {
    bool resumed = false;
    const auto kills = RunScripted({{1, "c", stage}}, 2, &resumed);
    ASSERT_EQ(kills.size(), 1u) << "stage " << stage;
    EXPECT_EQ(kills[0].round, 1);
    EXPECT_EQ(kills[0].site, "c");
    EXPECT_EQ(kills[0].stage, stage);
    EXPECT_TRUE(kills[0].before_message) << "stage " << stage;
    EXPECT_TRUE(resumed);
  }
}

TEST(SimulateDropoutsTest, SeveralSitesOfOneRoundEachDropAtTheirStage) {
  bool resumed = false;
  const auto kills =
      RunScripted({{1, "a", 5}, {1, "b", 3}, {1, "e", 3}, {2, "d", 2}, {3, "a", 6}}, 3, &resumed);
  ASSERT_EQ(kills.size(), 5u);
  std::map<std::pair<int64_t, std::string>, int> stages;
  for (const auto& kill : kills) {
    stages[{kill.round, kill.site}] = kill.stage;
    EXPECT_TRUE(kill.before_message) << kill.site << " in round " << kill.round;
  }
  EXPECT_EQ((stages[{1, "b"}]), 3);
  EXPECT_EQ((stages[{1, "e"}]), 3);
  EXPECT_EQ((stages[{1, "a"}]), 5);
  EXPECT_EQ((stages[{2, "d"}]), 2);
  EXPECT_EQ((stages[{3, "a"}]), 6);
  EXPECT_TRUE(resumed);
}

TEST(SimulateDropoutsTest, ARoundStartedUnseenIsTakenOverBeforeTheMessage) {
  // The controller misses the gap before round 2 and its first steps.
  bool resumed = false;
  const auto kills =
      RunScripted({{2, "b", 5}}, 3, &resumed, [](const RoundObservation& seen, int step) {
        const bool gap = !seen.in_progress && seen.last_completed_round == 1;
        return gap || (seen.in_progress && seen.round == 2 && step <= 2);
      });
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].round, 2);
  EXPECT_TRUE(kills[0].before_message);
  EXPECT_GE(kills[0].stage, 3);
  EXPECT_TRUE(resumed);
}

TEST(SimulateDropoutsTest, ASiteARoundDidNotReachDropsOutOfTheNextOne) {
  // Round 2 runs entirely unseen: its dropout happens in round 3.
  bool resumed = false;
  const auto kills = RunScripted({{2, "b", 3}}, 3, &resumed, [](const RoundObservation& seen, int) {
    return (!seen.in_progress && seen.last_completed_round == 1) ||
           (seen.in_progress && seen.round == 2);
  });
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].round, 3);
  EXPECT_EQ(kills[0].stage, 3);
  EXPECT_TRUE(kills[0].before_message);
  EXPECT_TRUE(resumed);
}

TEST(SimulateDropoutsTest, PlansAreSeededAndFollowTheProbability) {
  const std::vector<std::string> sites = {"a", "b", "c", "d", "e"};
  const auto plan = PlanDropouts(sites, 1, 200, 0.2, 5);
  EXPECT_EQ(plan.size(), PlanDropouts(sites, 1, 200, 0.2, 5).size());
  // 1,000 site-rounds at p = 0.2: 200 expected, standard deviation 12.6.
  EXPECT_NEAR(static_cast<double>(plan.size()), 200, 50);
  for (const PlannedDropout& d : plan) {
    EXPECT_GE(d.stage, 2);
    EXPECT_LE(d.stage, 6);
  }
  EXPECT_TRUE(PlanDropouts(sites, 1, 10, 0, 5).empty());
}

// ------------------------------------------------------------ evaluation

TEST_F(SimulateDataTest, BaselinesTrainOnTheSameStandardisedRecordsAndImprove) {
  // y = 1 exactly when x > 50: learnable by a logistic regression.
  auto site = [&](const std::string& name, int from, int count) {
    std::string csv = "x,y\n";
    for (int i = 0; i < count; ++i) {
      const int x = from + (i * 37) % 100;
      absl::StrAppend(&csv, x, ",", x > 50 ? 1 : 0, "\n");
    }
    return Write(name, csv);
  };
  const std::vector<std::string> files = {site("s1.csv", 0, 120), site("s2.csv", 10, 80),
                                          site("s3.csv", 5, 60)};
  ASSERT_OK_AND_ASSIGN(SimulationData loaded, LoadSimulationData(files, "y"));
  SimulationOptions options;
  options.label = "y";
  options.privacy = "none";
  options.rounds = 5;
  options.learning_rate = 0.5;
  ASSERT_OK_AND_ASSIGN(SecAggPlan plan, PlanSecureAggregation(3, std::nullopt));
  ASSERT_OK_AND_ASSIGN(ConfigReader reader,
                       ConfigReader::FromString(SimulationJobToml(options, loaded, plan), "job"));
  ASSERT_OK_AND_ASSIGN(coordinator::JobSpec spec, coordinator::ParseJobSpec(reader));
  ASSERT_OK_AND_ASSIGN(EvaluationData evaluation, EvaluationData::Load(spec, loaded.sites));

  // The standardisation is the pooled training records' mean and (population) sd.
  double sum = 0, squares = 0, n = 0;
  for (const EncodedSite& s : evaluation.sites()) {
    n += static_cast<double>(s.encoded.training.features.rows());
  }
  ASSERT_EQ(evaluation.standardization().columns, std::vector<std::string>{"x"});
  // Undo the encoding to recover the raw values: x = z * sd + mean.
  const double mean = evaluation.standardization().mean[0];
  const double sd = evaluation.standardization().stddev[0];
  for (const EncodedSite& s : evaluation.sites()) {
    for (Eigen::Index i = 0; i < s.encoded.training.features.rows(); ++i) {
      const double x = s.encoded.training.features(i, 0) * sd + mean;
      sum += x;
      squares += x * x;
    }
  }
  EXPECT_NEAR(sum / n, mean, 1e-3);
  EXPECT_NEAR(std::sqrt(squares / n - (sum / n) * (sum / n)), sd, 1e-3);

  // Every site's hold-out records are in the pooled evaluation.
  ASSERT_OK_AND_ASSIGN(JobModel model, BuildJobModel(spec, "job.toml"));
  ASSERT_OK_AND_ASSIGN(ModelEvaluation initial,
                       evaluation.Evaluate(model.model_bytes, model.initial_parameters));
  int64_t holdout = 0;
  for (size_t i = 0; i < loaded.sites.size(); ++i) holdout += evaluation.HoldoutRecords(i);
  EXPECT_EQ(initial.pooled.examples, holdout);
  ASSERT_EQ(initial.sites.size(), 3u);

  ASSERT_OK_AND_ASSIGN(Eigen::VectorXf trained,
                       evaluation.TrainBaseline(model.model_bytes, model.initial_parameters,
                                                {0, 1, 2}, std::nullopt, 3));
  ASSERT_OK_AND_ASSIGN(ModelEvaluation after, evaluation.Evaluate(model.model_bytes, trained));
  EXPECT_LT(after.pooled.loss, initial.pooled.loss);
  ASSERT_TRUE(after.pooled.auc.has_value());
  EXPECT_GT(*after.pooled.auc, 0.95);
  EXPECT_GT(after.pooled.accuracy, 0.85);
}

// ------------------------------------------------------------ report

TEST(SimulateReportTest, JsonHasRoundsFinalEpsilonAndBaselines) {
  SimulationResult result;
  result.options.label = "y";
  result.options.rounds = 2;
  result.options.epsilon = 2;
  result.job_id = "job-1";
  result.sites = {{"a", "/a.csv", 100, 80, 20}, {"b", "/b.csv", 50, 40, 10}};
  auto metrics = [](double auc) {
    ModelEvaluation e;
    e.pooled = {30, 0.5, 0.8, auc};
    e.sites = {{20, 0.4, 0.85, auc}, {10, 0.6, 0.7, std::nullopt}};
    return e;
  };
  result.rounds = {{1, 1, 0.5, {"a", "b"}, {}, metrics(0.7)},
                   {2, 2, 3.5, {"a"}, {"b"}, metrics(0.75)}};
  result.epsilon = {1.9, 2.0};
  result.centralised = metrics(0.8);
  result.local = {metrics(0.6), metrics(0.7)};
  result.dropouts = {{2, 1, "b", "masked input", true}};
  const nlohmann::json json = SimulationJson(result);
  ASSERT_EQ(json["rounds"].size(), 2u);
  EXPECT_EQ(json["rounds"][1]["round"], 2);
  EXPECT_EQ(json["rounds"][1]["attempts"], 2);
  EXPECT_EQ(json["rounds"][1]["sites"], nlohmann::json::array({"a"}));
  EXPECT_EQ(json["rounds"][1]["dropped"], nlohmann::json::array({"b"}));
  EXPECT_DOUBLE_EQ(json["rounds"][1]["seconds"].get<double>(), 3.5);
  for (const char* key : {"loss", "accuracy", "auc"}) {
    EXPECT_TRUE(json["rounds"][0][key].is_number()) << key;
    EXPECT_TRUE(json["final"][key].is_number()) << key;
    EXPECT_TRUE(json["centralised"][key].is_number()) << key;
  }
  EXPECT_DOUBLE_EQ(json["final"]["auc"].get<double>(), 0.75);
  EXPECT_TRUE(json["final"]["per_site"]["b"]["auc"].is_null());
  EXPECT_DOUBLE_EQ(json["epsilon"]["b"]["epsilon"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(json["epsilon"]["b"]["delta"].get<double>(), kDefaultDelta);
  EXPECT_DOUBLE_EQ(json["local"]["a"]["auc"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(json["local_median_auc"].get<double>(), 0.65);
  EXPECT_EQ(json["dropouts"][0]["stage"], "masked input");

  const std::string summary = SimulationSummary(result, true);
  EXPECT_THAT(summary, HasSubstr("round 2/2"));
  EXPECT_THAT(summary, HasSubstr("dropped: b"));
  EXPECT_THAT(summary, HasSubstr("0.650 (median)"));
  EXPECT_THAT(summary, HasSubstr("b in round 2 (masked input)"));

  // Without differential privacy there is no epsilon to report.
  result.options.privacy = "none";
  result.options.epsilon.reset();
  EXPECT_TRUE(SimulationJson(result)["epsilon"]["a"]["epsilon"].is_null());

  TempDir dir;
  ASSERT_THAT(WriteSimulationReport(dir.path() + "/report", result), IsOk());
  ASSERT_OK_AND_ASSIGN(std::string written,
                       ReadFileToString(dir.path() + "/report/result.json", "result"));
  EXPECT_EQ(nlohmann::json::parse(written)["job_id"], "job-1");
  EXPECT_THAT(ReadFileToString(dir.path() + "/report/summary.txt", "summary"), IsOk());
}

}  // namespace
}  // namespace tessera::cli
