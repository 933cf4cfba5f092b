// `tessera privacy ...` run as a real process: offline answers, JSON fields,
// and usage errors that exit with code 2 and name the offending flag.
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

RunResult Tessera(std::vector<std::string> args) {
  args.insert(args.begin(), TESSERA_CLI_BIN);
  // The coordinator address points at a closed port: the privacy commands
  // must answer without ever dialling it.
  absl::StatusOr<RunResult> result =
      RunCommand(args, absl::Seconds(60), {{"TESSERA_COORDINATOR", "127.0.0.1:1"}});
  EXPECT_OK(result.status());
  return result.ok() ? *result : RunResult{};
}

nlohmann::json ParseJson(const RunResult& result) {
  nlohmann::json parsed = nlohmann::json::parse(result.output, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << result.output;
  return parsed;
}

TEST(PrivacyCliTest, EpsilonMatchesOpacusPublishedValue) {
  // Opacus test_rdp_accountant: z = 1.5, q = 0.04, 2250 steps, delta = 1e-5
  // -> 7.32911117143; the default grid contains Opacus' orders, so the value
  // and the optimal order 3.9 carry over.
  RunResult result = Tessera({"privacy", "epsilon", "--noise-multiplier", "1.5", "--sampling-rate",
                              "0.04", "--steps", "2250", "--delta", "1e-5", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json out = ParseJson(result);
  EXPECT_NEAR(out["epsilon"].get<double>(), 7.32911117143, 1e-8);
  EXPECT_DOUBLE_EQ(out["delta"].get<double>(), 1e-5);
  EXPECT_EQ(out["accountant"], "rdp");
  EXPECT_DOUBLE_EQ(out["order"].get<double>(), 3.9);
}

TEST(PrivacyCliTest, PldEpsilonIsCloseToOpacusPrv) {
  // Opacus PRV accountant: 6.777395712150674 (2249 steps), an upper estimate
  // with eps_error 0.01; see pld_accountant_test.cc for the band.
  RunResult result =
      Tessera({"privacy", "epsilon", "--noise-multiplier", "1.5", "--sampling-rate", "0.04",
               "--steps", "2249", "--delta", "1e-5", "--accountant", "pld", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json out = ParseJson(result);
  EXPECT_GE(out["epsilon"].get<double>(), 6.777395712150674 - 0.02);
  EXPECT_LE(out["epsilon"].get<double>(), 6.777395712150674 * 1.01);
  EXPECT_EQ(out["accountant"], "pld");
  EXPECT_FALSE(out.contains("order"));
}

TEST(PrivacyCliTest, NoiseMultiplierMeetsTheTarget) {
  // Opacus test_get_noise_multiplier_rdp_epochs: 1.416 for eps 8, 90 epochs at q = 0.04.
  RunResult result = Tessera({"privacy", "noise-multiplier", "--epsilon", "8", "--delta", "1e-5",
                              "--sampling-rate", "0.04", "--steps", "2250", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json out = ParseJson(result);
  EXPECT_NEAR(out["noise_multiplier"].get<double>(), 1.416, 0.002);
  EXPECT_LE(out["epsilon"].get<double>(), 8.0);
  // Feeding the answer back gives an epsilon within the target.
  RunResult check = Tessera({"privacy", "epsilon", "--noise-multiplier",
                             out["noise_multiplier"].dump(), "--sampling-rate", "0.04", "--steps",
                             "2250", "--delta", "1e-5", "--json"});
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_LE(ParseJson(check)["epsilon"].get<double>(), 8.0);
}

TEST(PrivacyCliTest, HumanOutputNamesTheNumbers) {
  RunResult result = Tessera({"privacy", "noise-multiplier", "--epsilon", "3", "--delta", "1e-6",
                              "--sampling-rate", "0.01", "--steps", "1000"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("noise multiplier"));
  EXPECT_THAT(result.output, HasSubstr("target 3"));
  EXPECT_THAT(result.output, Not(HasSubstr("{")));
}

struct BadInput {
  std::vector<std::string> args;
  std::string flag;
};

TEST(PrivacyCliTest, InvalidInputIsAUsageErrorNamingTheFlag) {
  const std::vector<std::string> good = {"--noise-multiplier", "1", "--sampling-rate", "0.1",
                                         "--steps", "10", "--delta", "1e-5"};
  auto with = [&](const std::string& flag, const std::string& value) {
    std::vector<std::string> args = {"privacy", "epsilon"};
    for (size_t i = 0; i < good.size(); i += 2) {
      args.push_back(good[i]);
      args.push_back(good[i] == flag ? value : good[i + 1]);
    }
    return BadInput{args, flag};
  };
  const BadInput cases[] = {
      with("--noise-multiplier", "-1"),  with("--noise-multiplier", "abc"),
      with("--noise-multiplier", "nan"), with("--sampling-rate", "0"),
      with("--sampling-rate", "1.5"),    with("--steps", "0"),
      with("--steps", "2.5"),            with("--delta", "0"),
      with("--delta", "1"),              with("--delta", "-1e-5"),
      {{"privacy", "epsilon", "--noise-multiplier", "1", "--sampling-rate", "0.1", "--steps",
        "10", "--delta", "1e-5", "--accountant", "gdp"},
       "--accountant"},
      {{"privacy", "epsilon", "--sampling-rate", "0.1", "--steps", "10", "--delta", "1e-5"},
       "--noise-multiplier"},
      {{"privacy", "noise-multiplier", "--epsilon", "0", "--sampling-rate", "0.1", "--steps",
        "10", "--delta", "1e-5"},
       "--epsilon"},
  };
  for (const BadInput& c : cases) {
    RunResult result = Tessera(c.args);
    EXPECT_EQ(result.exit_code, 2) << result.output;
    // The error is the first line and names the flag.
    const std::string first_line = result.output.substr(0, result.output.find('\n'));
    EXPECT_THAT(first_line, HasSubstr(c.flag)) << result.output;
  }
}

TEST(PrivacyCliTest, GroupWithoutCommandListsTheChoices) {
  RunResult result = Tessera({"privacy"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output, HasSubstr("epsilon, noise-multiplier"));
}

}  // namespace
}  // namespace tessera::testing
