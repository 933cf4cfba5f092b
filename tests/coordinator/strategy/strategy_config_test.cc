#include "coordinator/strategy/strategy_config.h"

#include <limits>
#include <string>

#include "common/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator::strategy {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// Parses `toml` as job.toml; the status is reader.Finish().
struct Parsed {
  StrategyConfig config;
  absl::Status status;
};

Parsed Parse(const std::string& toml) {
  absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(toml, "job.toml");
  EXPECT_OK(reader.status());
  Parsed parsed;
  parsed.config = ParseStrategyConfig(*reader, "strategy");
  parsed.status = reader->Finish();
  return parsed;
}

TEST(StrategyConfigTest, ReadsTheFedAdamExample) {
  const Parsed parsed = Parse(R"([strategy]
name = "fedadam"
server_learning_rate = 0.01
beta1 = 0.9
beta2 = 0.99
tau = 1e-3
)");
  ASSERT_OK(parsed.status);
  EXPECT_EQ(parsed.config.kind, StrategyKind::kFedAdam);
  EXPECT_EQ(parsed.config.averaging, Averaging::kWeighted);
  EXPECT_EQ(parsed.config.server_learning_rate, 0.01);
  EXPECT_EQ(parsed.config.beta1, 0.9);
  EXPECT_EQ(parsed.config.beta2, 0.99);
  EXPECT_EQ(parsed.config.tau, 1e-3);
  EXPECT_EQ(DescribeStrategyConfig(parsed.config),
            "fedadam (weighted, server_learning_rate=0.01, beta1=0.9, beta2=0.99, tau=0.001)");
}

TEST(StrategyConfigTest, AbsentTableMeansFedAvgWithDefaults) {
  const Parsed parsed = Parse("[job]\nname = \"x\"\n");
  // `job.name` is nobody's key here: only it is reported.
  EXPECT_THAT(parsed.status, StatusIs(kInvalid, Not(HasSubstr("strategy"))));
  const Parsed empty = Parse("");
  ASSERT_OK(empty.status);
  EXPECT_EQ(empty.config.kind, StrategyKind::kFedAvg);
  EXPECT_EQ(empty.config.server_learning_rate, 1.0);
  EXPECT_EQ(DescribeStrategyConfig(empty.config), "fedavg (weighted, server_learning_rate=1)");
}

TEST(StrategyConfigTest, EachStrategyGetsItsDefaults) {
  const Parsed yogi = Parse("[strategy]\nname = \"fedyogi\"\n");
  ASSERT_OK(yogi.status);
  EXPECT_EQ(yogi.config.server_learning_rate, 0.01);
  EXPECT_EQ(yogi.config.beta1, 0.9);
  EXPECT_EQ(yogi.config.beta2, 0.99);
  EXPECT_EQ(yogi.config.tau, 1e-3);

  const Parsed momentum = Parse("[strategy]\nname = \"fedavgm\"\naveraging = \"uniform\"\n");
  ASSERT_OK(momentum.status);
  EXPECT_EQ(momentum.config.kind, StrategyKind::kFedAvgM);
  EXPECT_EQ(momentum.config.averaging, Averaging::kUniform);
  EXPECT_EQ(momentum.config.momentum, 0.9);
  EXPECT_EQ(momentum.config.server_learning_rate, 1.0);

  const Parsed adagrad = Parse("[strategy]\nname = \"fedadagrad\"\nserver_learning_rate = 0.1\n");
  ASSERT_OK(adagrad.status);
  EXPECT_EQ(adagrad.config.server_learning_rate, 0.1);
  EXPECT_EQ(DescribeStrategyConfig(adagrad.config),
            "fedadagrad (weighted, server_learning_rate=0.1, beta1=0.9, tau=0.001)");
}

TEST(StrategyConfigTest, FedProxNeedsMuAndCarriesIt) {
  const Parsed missing = Parse("[strategy]\nname = \"fedprox\"\n");
  EXPECT_THAT(missing.status,
              StatusIs(kInvalid, HasSubstr("missing required key `strategy.proximal_mu`")));
  const Parsed zero = Parse("[strategy]\nname = \"fedprox\"\nproximal_mu = 0\n");
  EXPECT_THAT(zero.status, StatusIs(kInvalid, HasSubstr("`strategy.proximal_mu` is 0")));
  const Parsed prox = Parse("[strategy]\nname = \"fedprox\"\nproximal_mu = 0.01\n");
  ASSERT_OK(prox.status);
  EXPECT_EQ(prox.config.kind, StrategyKind::kFedProx);
  EXPECT_EQ(prox.config.proximal_mu, 0.01);
  EXPECT_OK(ValidateStrategyConfig(prox.config));
}

TEST(StrategyConfigTest, ErrorsNameTheKeyAndLine) {
  EXPECT_THAT(Parse("[strategy]\nname = \"fedsgd\"\n").status,
              StatusIs(kInvalid,
                       AllOf(HasSubstr("job.toml:2:"), HasSubstr("`strategy.name`"),
                             HasSubstr("unknown strategy \"fedsgd\""),
                             HasSubstr("fedavg, fedavgm, fedprox, fedadagrad, fedadam, fedyogi"))));
  EXPECT_THAT(Parse("[strategy]\naveraging = \"median\"\n").status,
              StatusIs(kInvalid, AllOf(HasSubstr("`strategy.averaging`"), HasSubstr("median"))));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedadam\"\ntau = 0\n").status,
              StatusIs(kInvalid, HasSubstr("`strategy.tau` is 0 but must be between 1e-12")));
  EXPECT_THAT(Parse("[strategy]\nserver_learning_rate = -1\n").status,
              StatusIs(kInvalid, HasSubstr("`strategy.server_learning_rate` is -1")));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedyogi\"\nbeta2 = \"high\"\n").status,
              StatusIs(kInvalid, HasSubstr("`strategy.beta2` must be a number")));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedadam\"\nbeta_1 = 0.9\n").status,
              StatusIs(kInvalid, HasSubstr("unknown key `strategy.beta_1`")));
}

TEST(StrategyConfigTest, DecayRatesMustStayBelowOneAndAreReportedOnce) {
  const absl::Status at_one = Parse("[strategy]\nname = \"fedadam\"\nbeta1 = 1.0\n").status;
  EXPECT_THAT(at_one, StatusIs(kInvalid, HasSubstr("`strategy.beta1`: must be below 1")));
  const absl::Status above = Parse("[strategy]\nname = \"fedadam\"\nbeta2 = 1.5\n").status;
  EXPECT_THAT(above, StatusIs(kInvalid, HasSubstr("`strategy.beta2` is 1.5")));
  // One problem, one line.
  const std::string message(above.message());
  EXPECT_EQ(message.find("strategy.beta2"), message.rfind("strategy.beta2")) << message;
  EXPECT_THAT(Parse("[strategy]\nname = \"fedavgm\"\nmomentum = 1\n").status,
              StatusIs(kInvalid, HasSubstr("`strategy.momentum`: must be below 1")));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedavgm\"\nmomentum = 0\n").status, IsOk());
}

TEST(StrategyConfigTest, KeysOfOtherStrategiesAreErrors) {
  EXPECT_THAT(Parse("[strategy]\nname = \"fedavg\"\nbeta1 = 0.9\n").status,
              StatusIs(kInvalid, HasSubstr("`strategy.beta1`: does not apply to fedavg; only to "
                                           "fedadagrad, fedadam, fedyogi")));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedadagrad\"\nbeta2 = 0.99\n").status,
              StatusIs(kInvalid, HasSubstr("`strategy.beta2`: does not apply to fedadagrad; only "
                                           "to fedadam, fedyogi")));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedadam\"\nmomentum = 0.9\n").status,
              StatusIs(kInvalid, HasSubstr("does not apply to fedadam; only to fedavgm")));
  EXPECT_THAT(Parse("[strategy]\nname = \"fedavg\"\nproximal_mu = 0.1\n").status,
              StatusIs(kInvalid, HasSubstr("only to fedprox")));
}

TEST(StrategyConfigTest, NamesRoundTripAndAdaptivityIsKnown) {
  for (StrategyKind kind :
       {StrategyKind::kFedAvg, StrategyKind::kFedAvgM, StrategyKind::kFedProx,
        StrategyKind::kFedAdagrad, StrategyKind::kFedAdam, StrategyKind::kFedYogi}) {
    EXPECT_THAT(ParseStrategyName(StrategyName(kind)), IsOkAndHolds(kind));
  }
  EXPECT_THAT(ParseStrategyName("FedAvg"), StatusIs(kInvalid));
  EXPECT_TRUE(IsAdaptive(StrategyKind::kFedYogi));
  EXPECT_TRUE(IsAdaptive(StrategyKind::kFedAdagrad));
  EXPECT_FALSE(IsAdaptive(StrategyKind::kFedAvgM));
  EXPECT_FALSE(IsAdaptive(StrategyKind::kFedProx));
}

TEST(StrategyConfigTest, ValidateChecksOnlyWhatTheStrategyUses) {
  for (StrategyKind kind :
       {StrategyKind::kFedAvg, StrategyKind::kFedAvgM, StrategyKind::kFedAdagrad,
        StrategyKind::kFedAdam, StrategyKind::kFedYogi}) {
    EXPECT_OK(ValidateStrategyConfig(DefaultStrategyConfig(kind))) << StrategyName(kind);
  }
  StrategyConfig config = DefaultStrategyConfig(StrategyKind::kFedAvg);
  config.beta1 = 7;  // not used by FedAvg
  EXPECT_OK(ValidateStrategyConfig(config));
  config.server_learning_rate = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(ValidateStrategyConfig(config),
              StatusIs(kInvalid, HasSubstr("`server_learning_rate` is nan")));
  config = DefaultStrategyConfig(StrategyKind::kFedAvg);
  config.proximal_mu = 0.1;
  EXPECT_THAT(ValidateStrategyConfig(config),
              StatusIs(kInvalid, HasSubstr("the proximal term belongs to fedprox")));
  config = DefaultStrategyConfig(StrategyKind::kFedYogi);
  config.beta2 = 1.0;
  EXPECT_THAT(ValidateStrategyConfig(config),
              StatusIs(kInvalid, HasSubstr("`beta2` is 1 but must be at least 0 and below 1")));
  EXPECT_THAT(ValidateStrategyConfig(DefaultStrategyConfig(StrategyKind::kFedProx)),
              StatusIs(kInvalid, HasSubstr("proximal_mu")));
}

}  // namespace
}  // namespace tessera::coordinator::strategy
