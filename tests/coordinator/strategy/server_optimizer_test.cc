#include "coordinator/strategy/server_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "coordinator/strategy/aggregate_layout.h"
#include "crypto/bytes.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

// Expected values are worked out by hand from the update rules of the papers
// cited in server_optimizer.h (arithmetic in the comments); the adaptive
// cases pick tau and updates whose square roots are exact, so each line can
// be checked on paper. The Reddi et al. defaults case was evaluated with a
// calculator in double precision from Algorithm 2 of arXiv:2003.00295.
// Tolerances: 1e-6 absolute for parameters and first moments (float32 holds
// about 7 significant digits); second moments of order 1e-6 are compared
// relatively (1e-5).

namespace tessera::coordinator::strategy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kFailedPrecondition = absl::StatusCode::kFailedPrecondition;

ModelSpec Spec(int64_t dimension) {
  absl::StatusOr<ModelSpec> spec = ModelSpec::Create({TensorSpec{"w", {dimension}}});
  EXPECT_OK(spec.status());
  return *spec;
}

FlatParams Params(std::vector<float> values) {
  const auto dimension = static_cast<int64_t>(values.size());
  absl::StatusOr<FlatParams> params = FlatParams::FromValues(
      Spec(dimension), Eigen::Map<Eigen::VectorXf>(values.data(), dimension));
  EXPECT_OK(params.status());
  return *params;
}

// Δ̄ handed over directly: uniform averaging over one site makes Δ̄ = sum.
AggregatedUpdate OneSite(const std::vector<float>& average) {
  return AggregatedUpdate{average, std::nullopt, 1};
}

StrategyConfig Config(StrategyKind kind) {
  StrategyConfig config = DefaultStrategyConfig(kind);
  config.averaging = Averaging::kUniform;
  return config;
}

void ExpectClose(const Eigen::VectorXf& actual, const std::vector<double>& expected,
                 const char* what, double relative = 0.0) {
  ASSERT_EQ(actual.size(), static_cast<Eigen::Index>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double tolerance = relative > 0 ? relative * std::abs(expected[i]) : 1e-6;
    EXPECT_NEAR(actual[static_cast<Eigen::Index>(i)], expected[i], tolerance)
        << what << "[" << i << "]";
  }
}

TEST(ServerOptimizerTest, FedAvgWeightedAveragesSiteUpdatesPreparedThroughTheLayout) {
  // McMahan et al. 2017, Algorithm 1, with a server learning rate:
  // x1 = x0 + eta Σ w_k Δ_k / Σ w_k. Each site writes w_k Δ_k and w_k.
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(3, 0));
  auto site_vector = [&](float weight, std::vector<float> delta) {
    std::vector<float> vector(static_cast<size_t>(layout.size()), 0.0f);
    absl::StatusOr<absl::Span<float>> update = layout.MutableUpdate(absl::MakeSpan(vector));
    EXPECT_OK(update.status());
    for (size_t i = 0; i < delta.size(); ++i) (*update)[i] = weight * delta[i];
    EXPECT_OK(layout.WriteSlot(absl::MakeSpan(vector), kWeightSlot, weight));
    return vector;
  };
  // Site A: w = 0.5, Δ = (0.2, -0.4, 0.6); site B: w = 1, Δ = (-0.1, 0.1, 0.3).
  const std::vector<float> a = site_vector(0.5f, {0.2f, -0.4f, 0.6f});
  const std::vector<float> b = site_vector(1.0f, {-0.1f, 0.1f, 0.3f});
  std::vector<float> sum(a.size());
  for (size_t i = 0; i < a.size(); ++i) sum[i] = a[i] + b[i];
  // Σ w Δ = (0.1 - 0.1, -0.2 + 0.1, 0.3 + 0.3) = (0, -0.1, 0.6); Σ w = 1.5;
  // Δ̄ = (0, -0.0666667, 0.4).
  ASSERT_OK_AND_ASSIGN(AggregatedUpdate aggregate, ReadAggregatedUpdate(layout, sum, 2));
  EXPECT_EQ(aggregate.total_weight, 1.5);

  StrategyConfig config = DefaultStrategyConfig(StrategyKind::kFedAvg);
  config.server_learning_rate = 0.5;
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer, ServerOptimizer::Create(config, 3));
  ASSERT_OK_AND_ASSIGN(Eigen::VectorXf average, optimizer.Average(aggregate));
  ExpectClose(average, {0.0, -0.1 / 1.5, 0.4}, "average");
  // x1 = (1, 2, 3) + 0.5 Δ̄ = (1, 1.9666667, 3.2).
  ASSERT_OK_AND_ASSIGN(FlatParams x1, optimizer.Step(Params({1, 2, 3}), aggregate));
  ExpectClose(x1.values(), {1.0, 2.0 - 0.05 / 1.5, 3.2}, "x1");
  // Round 2 (FedAvg keeps no state): Σ w Δ = (0.3, 0.3, -0.3), Σ w = 0.6,
  // Δ̄ = (0.5, 0.5, -0.5); x2 = x1 + 0.25 = (1.25, 2.2166667, 2.95).
  const std::vector<float> sum2 = {0.3f, 0.3f, -0.3f};
  ASSERT_OK_AND_ASSIGN(FlatParams x2, optimizer.Step(x1, AggregatedUpdate{sum2, 0.6, 2}));
  ExpectClose(x2.values(), {1.25, 2.25 - 0.05 / 1.5, 2.95}, "x2");
  EXPECT_EQ(optimizer.first_moment().size(), 0);
  EXPECT_EQ(optimizer.second_moment().size(), 0);
  EXPECT_EQ(optimizer.steps(), 2);
  EXPECT_EQ(x2.spec(), Spec(3));
}

TEST(ServerOptimizerTest, FedAvgUniformDividesBySitesAndIgnoresTheWeightSlot) {
  // Σ Δ_k = (0.2 - 0.1, -0.4 + 0.1, 0.6 + 0.3) = (0.1, -0.3, 0.9), n = 2:
  // Δ̄ = (0.05, -0.15, 0.45); eta = 1: x1 = (1.05, 1.85, 3.45).
  StrategyConfig config = DefaultStrategyConfig(StrategyKind::kFedAvg);
  config.averaging = Averaging::kUniform;
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer, ServerOptimizer::Create(config, 3));
  const std::vector<float> sum = {0.1f, -0.3f, 0.9f};
  // A weight that weighted averaging would use (Δ̄ would be 10x larger).
  ASSERT_OK_AND_ASSIGN(FlatParams x1,
                       optimizer.Step(Params({1, 2, 3}), AggregatedUpdate{sum, 0.2, 2}));
  ExpectClose(x1.values(), {1.05, 1.85, 3.45}, "x1");
}

TEST(ServerOptimizerTest, FedProxStepsLikeFedAvgAndCarriesMuForTheSites) {
  StrategyConfig config = DefaultStrategyConfig(StrategyKind::kFedProx);
  config.proximal_mu = 0.01;
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer, ServerOptimizer::Create(config, 3));
  EXPECT_EQ(optimizer.config().proximal_mu, 0.01);
  // Σ w Δ = (0.3, -0.6, 0), Σ w = 3: Δ̄ = (0.1, -0.2, 0); x1 = (1.1, 1.8, 3).
  const std::vector<float> sum = {0.3f, -0.6f, 0.0f};
  ASSERT_OK_AND_ASSIGN(FlatParams x1,
                       optimizer.Step(Params({1, 2, 3}), AggregatedUpdate{sum, 3.0, 2}));
  ExpectClose(x1.values(), {1.1, 1.8, 3.0}, "x1");
  EXPECT_EQ(optimizer.first_moment().size(), 0);

  StrategyConfig no_mu = DefaultStrategyConfig(StrategyKind::kFedProx);
  EXPECT_THAT(ServerOptimizer::Create(no_mu, 3), StatusIs(kInvalid, HasSubstr("proximal_mu")));
}

// One round with Δ̄ = `average`: steps from `x`, checks the state m, v and the
// new parameters, and leaves them in `x`. Second moments are compared
// relatively when `v_relative` > 0.
void StepAndExpect(ServerOptimizer& optimizer, FlatParams& x, const std::vector<float>& average,
                   const std::vector<double>& m, const std::vector<double>& v,
                   const std::vector<double>& next, double v_relative = 0.0) {
  absl::StatusOr<FlatParams> stepped = optimizer.Step(x, OneSite(average));
  ASSERT_OK(stepped.status());
  ExpectClose(optimizer.first_moment(), m, "m");
  ExpectClose(optimizer.second_moment(), v, "v", v_relative);
  ExpectClose(stepped->values(), next, "x");
  x = *std::move(stepped);
}

// An adaptive strategy with eta = 1, uniform averaging and the given decay
// rates and tau.
StrategyConfig Adaptive(StrategyKind kind, double beta1, double beta2, double tau) {
  StrategyConfig config = Config(kind);
  config.beta1 = beta1;
  config.beta2 = beta2;
  config.tau = tau;
  config.server_learning_rate = 1.0;
  return config;
}

TEST(ServerOptimizerTest, FedAvgMAccumulatesServerMomentum) {
  // Hsu et al. 2019: m_t = beta m_{t-1} + Δ̄_t, x_{t+1} = x_t + eta m_t;
  // beta = 0.9, eta = 0.5, x0 = (1, 2, 3).
  StrategyConfig config = Config(StrategyKind::kFedAvgM);
  config.server_learning_rate = 0.5;
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer, ServerOptimizer::Create(config, 3));
  ExpectClose(optimizer.first_moment(), {0, 0, 0}, "m_-1");
  FlatParams x = Params({1, 2, 3});
  // Round 1: Δ̄ = (0.1, -0.2, 0.3); m1 = Δ̄; x1 = x0 + 0.5 m1 = (1.05, 1.9, 3.15).
  ASSERT_NO_FATAL_FAILURE(
      StepAndExpect(optimizer, x, {0.1f, -0.2f, 0.3f}, {0.1, -0.2, 0.3}, {}, {1.05, 1.9, 3.15}));
  // Round 2: Δ̄ = (0.1, 0.1, -0.1); m2 = 0.9 m1 + Δ̄ = (0.19, -0.08, 0.17);
  // x2 = x1 + 0.5 m2 = (1.145, 1.86, 3.235).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0.1f, 0.1f, -0.1f}, {0.19, -0.08, 0.17}, {},
                                        {1.145, 1.86, 3.235}));
  // Round 3: Δ̄ = 0; m3 = 0.9 m2 = (0.171, -0.072, 0.153);
  // x3 = x2 + 0.5 m3 = (1.2305, 1.824, 3.3115): momentum keeps moving x.
  ASSERT_NO_FATAL_FAILURE(
      StepAndExpect(optimizer, x, {0, 0, 0}, {0.171, -0.072, 0.153}, {}, {1.2305, 1.824, 3.3115}));
}

TEST(ServerOptimizerTest, FedAdagradFollowsReddiAlgorithm2) {
  // m_t = b1 m + (1 - b1) Δ̄, v_t = v + Δ̄², x += eta m_t / (sqrt(v_t) + tau),
  // with b1 = 0.5, tau = 0.3 (v_-1 = 0.09), eta = 1, x0 = (1, 2, 3).
  ASSERT_OK_AND_ASSIGN(
      ServerOptimizer optimizer,
      ServerOptimizer::Create(Adaptive(StrategyKind::kFedAdagrad, 0.5, 0.99, 0.3), 3));
  ExpectClose(optimizer.first_moment(), {0, 0, 0}, "m_-1");
  ExpectClose(optimizer.second_moment(), {0.09, 0.09, 0.09}, "v_-1");
  FlatParams x = Params({1, 2, 3});
  // Round 1: Δ̄ = (0.4, -0.4, 0); m1 = (0.2, -0.2, 0);
  // v1 = 0.09 + (0.16, 0.16, 0) = (0.25, 0.25, 0.09), sqrt = (0.5, 0.5, 0.3);
  // x1 = (1 + 0.2/0.8, 2 - 0.2/0.8, 3) = (1.25, 1.75, 3).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0.4f, -0.4f, 0}, {0.2, -0.2, 0.0},
                                        {0.25, 0.25, 0.09}, {1.25, 1.75, 3.0}));
  // Round 2: Δ̄ = (1.2, 0, 0.4); m2 = 0.5 m1 + 0.5 Δ̄ = (0.7, -0.1, 0.2);
  // v2 = v1 + (1.44, 0, 0.16) = (1.69, 0.25, 0.25), sqrt = (1.3, 0.5, 0.5);
  // x2 = (1.25 + 0.7/1.6, 1.75 - 0.1/0.8, 3 + 0.2/0.8) = (1.6875, 1.625, 3.25).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {1.2f, 0, 0.4f}, {0.7, -0.1, 0.2},
                                        {1.69, 0.25, 0.25}, {1.6875, 1.625, 3.25}));
  // Round 3: Δ̄ = 0; m3 = 0.5 m2 = (0.35, -0.05, 0.1); v3 = v2;
  // x3 = (1.6875 + 0.35/1.6, 1.625 - 0.05/0.8, 3.25 + 0.1/0.8)
  //    = (1.90625, 1.5625, 3.375).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0, 0, 0}, {0.35, -0.05, 0.1},
                                        {1.69, 0.25, 0.25}, {1.90625, 1.5625, 3.375}));
  EXPECT_EQ(optimizer.steps(), 3);
}

TEST(ServerOptimizerTest, FedAdamFollowsReddiAlgorithm2) {
  // v_t = b2 v + (1 - b2) Δ̄², b1 = b2 = 0.5, tau = 0.1 (v_-1 = 0.01), eta = 1.
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer,
                       ServerOptimizer::Create(Adaptive(StrategyKind::kFedAdam, 0.5, 0.5, 0.1), 3));
  FlatParams x = Params({1, 2, 3});
  // Round 1: Δ̄ = (0.7, -0.1, 0.1); m1 = 0.5 Δ̄ = (0.35, -0.05, 0.05);
  // v1 = 0.005 + 0.5 (0.49, 0.01, 0.01) = (0.25, 0.01, 0.01), sqrt = (0.5, 0.1, 0.1);
  // x1 = (1 + 0.35/0.6, 2 - 0.05/0.2, 3 + 0.05/0.2) = (1.5833333, 1.75, 3.25).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0.7f, -0.1f, 0.1f}, {0.35, -0.05, 0.05},
                                        {0.25, 0.01, 0.01}, {1.0 + 0.35 / 0.6, 1.75, 3.25}));
  // Round 2: Δ̄ = (-0.5, 0.7, 0.1); m2 = 0.5 m1 + 0.5 Δ̄ = (-0.075, 0.325, 0.075);
  // v2 = 0.5 v1 + 0.5 (0.25, 0.49, 0.01) = (0.25, 0.25, 0.01), sqrt = (0.5, 0.5, 0.1);
  // x2 = (x1 - 0.075/0.6, 1.75 + 0.325/0.6, 3.25 + 0.075/0.2)
  //    = (1.4583333, 2.2916667, 3.625).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {-0.5f, 0.7f, 0.1f}, {-0.075, 0.325, 0.075},
                                        {0.25, 0.25, 0.01},
                                        {1.0 + 0.35 / 0.6 - 0.125, 1.75 + 0.325 / 0.6, 3.625}));
  // Round 3: Δ̄ = (0.5, -0.5, 0.1); m3 = (-0.0375 + 0.25, 0.1625 - 0.25, 0.0375 + 0.05)
  // = (0.2125, -0.0875, 0.0875); v3 = (0.125 + 0.125, 0.125 + 0.125, 0.005 + 0.005)
  // = (0.25, 0.25, 0.01); x3 = (x2 + 0.2125/0.6, x2 - 0.0875/0.6, 3.625 + 0.0875/0.2)
  // = (1.8125, 2.1458333, 4.0625).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0.5f, -0.5f, 0.1f},
                                        {0.2125, -0.0875, 0.0875}, {0.25, 0.25, 0.01},
                                        {1.8125, 1.75 + (0.325 - 0.0875) / 0.6, 4.0625}));
}

TEST(ServerOptimizerTest, FedYogiFollowsReddiAlgorithm2IncludingSignZero) {
  // v_t = v - (1 - b2) Δ̄² sign(v - Δ̄²), b1 = b2 = 0.5, tau = 0.5
  // (v_-1 = 0.25), eta = 1. Values are dyadic, so float holds them exactly and
  // the tie v = Δ̄² (sign 0) really happens.
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer,
                       ServerOptimizer::Create(Adaptive(StrategyKind::kFedYogi, 0.5, 0.5, 0.5), 3));
  FlatParams x = Params({1, 2, 3});
  // Round 1: Δ̄ = (2, 0, -0.5), Δ̄² = (4, 0, 0.25).
  // v1 = (0.25 + 0.5*4 [sign -1], 0.25 - 0 [sign +1], 0.25 [sign 0]) = (2.25, 0.25, 0.25)
  // (FedAdam would give (2.125, 0.125, 0.25)); sqrt = (1.5, 0.5, 0.5);
  // m1 = 0.5 Δ̄ = (1, 0, -0.25); x1 = (1 + 1/2, 2, 3 - 0.25/1) = (1.5, 2, 2.75).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {2, 0, -0.5f}, {1.0, 0.0, -0.25},
                                        {2.25, 0.25, 0.25}, {1.5, 2.0, 2.75}));
  // Round 2: Δ̄ = (0, 2, 0); v2 = (2.25, 0.25 + 0.5*4, 0.25) = (2.25, 2.25, 0.25);
  // m2 = 0.5 m1 + 0.5 Δ̄ = (0.5, 1, -0.125);
  // x2 = (1.5 + 0.5/2, 2 + 1/2, 2.75 - 0.125/1) = (1.75, 2.5, 2.625).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0, 2, 0}, {0.5, 1.0, -0.125},
                                        {2.25, 2.25, 0.25}, {1.75, 2.5, 2.625}));
  // Round 3: Δ̄ = (1, 0, 0): Δ̄² = 1 < v = 2.25, so v shrinks:
  // v3 = (2.25 - 0.5, 2.25, 0.25) = (1.75, 2.25, 0.25) (FedAdam: 1.625);
  // m3 = (0.25 + 0.5, 0.5, -0.0625) = (0.75, 0.5, -0.0625);
  // x3 = (1.75 + 0.75/(sqrt(1.75) + 0.5), 2.5 + 0.5/2, 2.625 - 0.0625/1)
  //    = (1.75 + 0.75/1.8228757, 2.75, 2.5625) = (2.1614378, 2.75, 2.5625).
  ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {1, 0, 0}, {0.75, 0.5, -0.0625},
                                        {1.75, 2.25, 0.25}, {2.1614378, 2.75, 2.5625}));
}

TEST(ServerOptimizerTest, AdaptiveStrategiesWithReddiDefaults) {
  // beta1 = 0.9, beta2 = 0.99, tau = 1e-3 (v_-1 = 1e-6), eta = 0.01;
  // x0 = (0.5, -0.5, 0); Δ̄1 = (0.1, -0.02, 0), Δ̄2 = (0.05, 0.01, 0.003).
  // In every strategy m1 = 0.1 Δ̄1 = (0.01, -0.002, 0) and
  // m2 = 0.9 m1 + 0.1 Δ̄2 = (0.014, -0.0008, 0.0003).
  struct Expected {
    StrategyKind kind;
    std::vector<double> v1, x1, v2, x2;
  };
  const std::vector<Expected> cases = {
      // FedAdam: v1 = 0.99e-6 + 0.01 Δ̄1² = (1.0099e-4, 4.99e-6, 9.9e-7),
      // sqrt(v1) = (0.0100494, 0.00223383, 0.000994987),
      // x1 = x0 + 0.01 m1 / (sqrt(v1) + 1e-3) = (0.5090503, -0.5061846, 0);
      // v2 = 0.99 v1 + 0.01 Δ̄2² = (1.249801e-4, 5.9401e-6, 1.0701e-6),
      // x2 = (0.5205451, -0.5085121, 0.0014746).
      {StrategyKind::kFedAdam,
       {1.0099e-4, 4.99e-6, 9.9e-7},
       {0.5090502831, -0.5061846155, 0.0},
       {1.249801e-4, 5.9401e-6, 1.0701e-6},
       {0.5205450551, -0.5085120696, 0.001474595391}},
      // FedYogi: Δ̄1² > v_-1 on the first two coordinates (v grows by
      // 0.01 Δ̄²), Δ̄1 = 0 leaves the third: v1 = (1.01e-4, 5e-6, 1e-6),
      // x1 = (0.5090499, -0.5061803, 0); v2 = (1.26e-4, 6e-6, 1.09e-6),
      // x2 = (0.5205018, -0.5084995, 0.0014677).
      {StrategyKind::kFedYogi,
       {1.01e-4, 5e-6, 1e-6},
       {0.5090498756, -0.5061803399, 0.0},
       {1.26e-4, 6e-6, 1.09e-6},
       {0.5205018444, -0.5084995235, 0.001467688363}},
      // FedAdagrad: v1 = 1e-6 + Δ̄1² = (0.010001, 4.01e-4, 1e-6),
      // x1 = (0.5009901, -0.5009512, 0); v2 = (0.012501, 5.01e-4, 1e-5),
      // x2 = (0.5022311, -0.5012934, 0.0007208).
      {StrategyKind::kFedAdagrad,
       {0.010001, 4.01e-4, 1e-6},
       {0.50099005, -0.5009512492, 0.0},
       {0.012501, 5.01e-4, 1e-5},
       {0.5022310982, -0.5012933777, 0.0007207592201}},
  };
  for (const Expected& expected : cases) {
    SCOPED_TRACE(std::string(StrategyName(expected.kind)));
    const StrategyConfig config = Config(expected.kind);
    EXPECT_EQ(config.beta1, 0.9);
    EXPECT_EQ(config.beta2, 0.99);
    EXPECT_EQ(config.tau, 1e-3);
    EXPECT_EQ(config.server_learning_rate, 0.01);
    ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer, ServerOptimizer::Create(config, 3));
    FlatParams x = Params({0.5f, -0.5f, 0.0f});
    ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0.1f, -0.02f, 0}, {0.01, -0.002, 0.0},
                                          expected.v1, expected.x1, 1e-5));
    ASSERT_NO_FATAL_FAILURE(StepAndExpect(optimizer, x, {0.05f, 0.01f, 0.003f},
                                          {0.014, -0.0008, 0.0003}, expected.v2, expected.x2,
                                          1e-5));
  }
}

TEST(ServerOptimizerTest, CreateRejectsInvalidConfigsAndEmptyModels) {
  StrategyConfig config = DefaultStrategyConfig(StrategyKind::kFedAdam);
  config.beta1 = 1.0;
  EXPECT_THAT(ServerOptimizer::Create(config, 3), StatusIs(kInvalid, HasSubstr("beta1")));
  config = DefaultStrategyConfig(StrategyKind::kFedYogi);
  config.tau = 0.0;
  EXPECT_THAT(ServerOptimizer::Create(config, 3), StatusIs(kInvalid, HasSubstr("tau")));
  EXPECT_THAT(ServerOptimizer::Create(DefaultStrategyConfig(StrategyKind::kFedAvg), 0),
              StatusIs(kInvalid, HasSubstr("0 parameters")));
}

// A FedAdam optimizer that has taken one step, to check that refused steps
// leave its state alone.
class ServerOptimizerErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StrategyConfig config = DefaultStrategyConfig(StrategyKind::kFedAdam);
    absl::StatusOr<ServerOptimizer> created = ServerOptimizer::Create(config, 3);
    ASSERT_OK(created.status());
    optimizer_.emplace(*std::move(created));
    const std::vector<float> sum = {0.3f, -0.3f, 0.6f};
    ASSERT_OK(optimizer_->Step(x_, AggregatedUpdate{sum, 3.0, 3}).status());
    state_ = optimizer_->SerializeState();
  }

  void ExpectStepRefused(const AggregatedUpdate& aggregate, absl::StatusCode code,
                         const std::string& message) {
    EXPECT_THAT(optimizer_->Step(x_, aggregate), StatusIs(code, HasSubstr(message)));
    EXPECT_EQ(optimizer_->SerializeState(), state_) << "a refused step changed the state";
  }

  FlatParams x_ = Params({1, 2, 3});
  std::optional<ServerOptimizer> optimizer_;
  std::string state_;
};

TEST_F(ServerOptimizerErrorsTest, RefusesNonFiniteAggregates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> with_nan = {0.1f, nan, 0.1f};
  const std::vector<float> with_inf = {0.1f, 0.1f, -inf};
  ExpectStepRefused(AggregatedUpdate{with_nan, 1.0, 1}, kInvalid, "at update[1]");
  ExpectStepRefused(AggregatedUpdate{with_inf, 1.0, 1}, kInvalid, "at update[2]");
}

TEST_F(ServerOptimizerErrorsTest, RefusesMissingZeroNegativeAndNonFiniteWeights) {
  const std::vector<float> sum = {0.1f, 0.1f, 0.1f};
  ExpectStepRefused(AggregatedUpdate{sum, std::nullopt, 2}, kFailedPrecondition, "`weight` slot");
  ExpectStepRefused(AggregatedUpdate{sum, 0.0, 2}, kInvalid, "total weight of the round is 0");
  ExpectStepRefused(AggregatedUpdate{sum, -1.5, 2}, kInvalid, "total weight of the round is -1.5");
  ExpectStepRefused(AggregatedUpdate{sum, std::numeric_limits<double>::quiet_NaN(), 2}, kInvalid,
                    "must be positive and finite");
  ExpectStepRefused(AggregatedUpdate{sum, std::numeric_limits<double>::infinity(), 2}, kInvalid,
                    "must be positive and finite");
}

TEST_F(ServerOptimizerErrorsTest, RefusesShapeMismatches) {
  const std::vector<float> short_sum = {0.1f, 0.1f};
  ExpectStepRefused(AggregatedUpdate{short_sum, 1.0, 1}, kInvalid,
                    "has 2 values but the model has 3");
  const std::vector<float> sum = {0.1f, 0.1f, 0.1f};
  EXPECT_THAT(optimizer_->Step(Params({1, 2, 3, 4}), AggregatedUpdate{sum, 1.0, 1}),
              StatusIs(kInvalid, HasSubstr("global parameters have 4 values")));
  EXPECT_THAT(optimizer_->Step(Params({1, std::numeric_limits<float>::quiet_NaN(), 3}),
                               AggregatedUpdate{sum, 1.0, 1}),
              StatusIs(kInvalid, HasSubstr("NaN")));
  EXPECT_EQ(optimizer_->SerializeState(), state_);
}

TEST_F(ServerOptimizerErrorsTest, RefusesOverflowsWithoutChangingTheState) {
  // 3e38 / 1e-3 overflows float in the division by the total weight.
  const std::vector<float> huge = {3e38f, 0.0f, 0.0f};
  ExpectStepRefused(AggregatedUpdate{huge, 1e-3, 1}, kInvalid, "overflows");
  // Here the average is finite but FedAdam's Δ̄² is not.
  ExpectStepRefused(AggregatedUpdate{huge, 1.0, 1}, kInvalid, "overflowed");
}

TEST(ServerOptimizerTest, UniformAveragingRefusesAnEmptySum) {
  ASSERT_OK_AND_ASSIGN(ServerOptimizer optimizer,
                       ServerOptimizer::Create(Config(StrategyKind::kFedAvg), 3));
  const std::vector<float> sum = {0.1f, 0.1f, 0.1f};
  EXPECT_THAT(optimizer.Step(Params({1, 2, 3}), AggregatedUpdate{sum, std::nullopt, 0}),
              StatusIs(kInvalid, HasSubstr("over 0 sites")));
  // A FedAvg step landing outside float's range is refused too.
  const std::vector<float> big = {3e38f, 0.0f, 0.0f};
  EXPECT_THAT(optimizer.Step(Params({3e38f, 0, 0}), AggregatedUpdate{big, std::nullopt, 1}),
              StatusIs(kInvalid, HasSubstr("overflowed")));
  EXPECT_EQ(optimizer.steps(), 0);
}

TEST(ReadAggregatedUpdateTest, RefusesBadAggregatesAndReadsTheWeightWhenPresent) {
  ASSERT_OK_AND_ASSIGN(AggregateLayout layout, AggregateLayout::Standard(2, 2));
  std::vector<float> aggregate(static_cast<size_t>(layout.size()), 1.0f);
  ASSERT_OK_AND_ASSIGN(AggregatedUpdate update, ReadAggregatedUpdate(layout, aggregate, 4));
  EXPECT_EQ(update.sum.size(), 2u);
  EXPECT_EQ(update.total_weight, 1.0);
  EXPECT_EQ(update.sites, 4);
  EXPECT_THAT(ReadAggregatedUpdate(layout, aggregate, 0), StatusIs(kInvalid, HasSubstr("0 sites")));
  aggregate[3] = std::numeric_limits<float>::quiet_NaN();  // eval.loss_sum
  EXPECT_THAT(ReadAggregatedUpdate(layout, aggregate, 4),
              StatusIs(kInvalid, HasSubstr("at eval.loss_sum")));
  aggregate.pop_back();
  EXPECT_THAT(ReadAggregatedUpdate(layout, aggregate, 4), StatusIs(kInvalid, HasSubstr("values")));

  ASSERT_OK_AND_ASSIGN(AggregateLayout no_weight,
                       AggregateLayout::Builder(2).AddSlot(kEvalCountSlot).Build());
  const std::vector<float> unweighted = {0.5f, 0.5f, 10.0f};
  ASSERT_OK_AND_ASSIGN(AggregatedUpdate plain, ReadAggregatedUpdate(no_weight, unweighted, 2));
  EXPECT_FALSE(plain.total_weight.has_value());
}

// Two rounds of FedYogi, so that both state vectors hold non-trivial values.
ServerOptimizer TrainedYogi(int64_t dimension) {
  StrategyConfig config = Config(StrategyKind::kFedYogi);
  absl::StatusOr<ServerOptimizer> optimizer = ServerOptimizer::Create(config, dimension);
  EXPECT_OK(optimizer.status());
  std::vector<float> x0(static_cast<size_t>(dimension), 1.0f);
  std::vector<float> d1(static_cast<size_t>(dimension));
  std::vector<float> d2(static_cast<size_t>(dimension));
  for (size_t i = 0; i < d1.size(); ++i) {
    d1[i] = 0.01f * static_cast<float>(i + 1);
    d2[i] = -0.003f * static_cast<float>(i * i);
  }
  absl::StatusOr<FlatParams> x1 = optimizer->Step(Params(x0), OneSite(d1));
  EXPECT_OK(x1.status());
  if (x1.ok()) {
    EXPECT_OK(optimizer->Step(*x1, OneSite(d2)).status());
  }
  return *std::move(optimizer);
}

TEST(ServerOptimizerStateTest, RoundTripsThroughBytesAndContinuesIdentically) {
  ServerOptimizer original = TrainedYogi(3);
  const std::string bytes = original.SerializeState();
  // 4 magic + 4 version + 1 code + 8 dimension + 8 steps + 1 count
  // + 2 vectors × 3 floats × 4 bytes + 32 digest.
  EXPECT_EQ(bytes.size(), 4u + 4 + 1 + 8 + 8 + 1 + 24 + 32);
  EXPECT_EQ(bytes.substr(0, 4), "TSSO");
  EXPECT_EQ(bytes.substr(4, 4), std::string("\0\0\0\1", 4));           // version 1
  EXPECT_EQ(bytes[8], 6);                                              // fedyogi
  EXPECT_EQ(bytes.substr(9, 8), std::string("\0\0\0\0\0\0\0\3", 8));   // dimension 3
  EXPECT_EQ(bytes.substr(17, 8), std::string("\0\0\0\0\0\0\0\2", 8));  // 2 steps
  EXPECT_EQ(bytes[25], 2);                                             // m and v

  ASSERT_OK_AND_ASSIGN(ServerOptimizer restored,
                       ServerOptimizer::Create(Config(StrategyKind::kFedYogi), 3));
  ASSERT_OK(restored.RestoreState(bytes));
  EXPECT_EQ(restored.steps(), 2);
  EXPECT_EQ(restored.first_moment(), original.first_moment());
  EXPECT_EQ(restored.second_moment(), original.second_moment());
  EXPECT_EQ(restored.SerializeState(), bytes);

  // The next round gives bit-identical parameters from both.
  const std::vector<float> d3 = {0.02f, -0.01f, 0.005f};
  ASSERT_OK_AND_ASSIGN(FlatParams from_original, original.Step(Params({1, 1, 1}), OneSite(d3)));
  ASSERT_OK_AND_ASSIGN(FlatParams from_restored, restored.Step(Params({1, 1, 1}), OneSite(d3)));
  EXPECT_EQ(from_original.values(), from_restored.values());
}

TEST(ServerOptimizerStateTest, StatelessAndMomentumStrategiesRoundTripToo) {
  for (StrategyKind kind : {StrategyKind::kFedAvg, StrategyKind::kFedAvgM}) {
    SCOPED_TRACE(std::string(StrategyName(kind)));
    ASSERT_OK_AND_ASSIGN(ServerOptimizer original, ServerOptimizer::Create(Config(kind), 2));
    const std::vector<float> d = {0.5f, -0.25f};
    ASSERT_OK(original.Step(Params({0, 0}), OneSite(d)).status());
    ASSERT_OK_AND_ASSIGN(ServerOptimizer restored, ServerOptimizer::Create(Config(kind), 2));
    ASSERT_OK(restored.RestoreState(original.SerializeState()));
    EXPECT_EQ(restored.steps(), 1);
    EXPECT_EQ(restored.first_moment(), original.first_moment());
  }
}

TEST(ServerOptimizerStateTest, EveryFlippedBitAndEveryTruncationIsRejected) {
  ServerOptimizer optimizer = TrainedYogi(3);
  const std::string bytes = optimizer.SerializeState();
  const Eigen::VectorXf v_before = optimizer.second_moment();
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(corrupt[i] ^ (1 << bit));
      EXPECT_THAT(optimizer.RestoreState(corrupt), StatusIs(kInvalid))
          << "byte " << i << " bit " << bit;
    }
  }
  for (size_t length = 0; length < bytes.size(); ++length) {
    EXPECT_THAT(optimizer.RestoreState(bytes.substr(0, length)), StatusIs(kInvalid))
        << "length " << length;
  }
  EXPECT_THAT(optimizer.RestoreState(bytes + '\0'), StatusIs(kInvalid, HasSubstr("digest")));
  EXPECT_EQ(optimizer.second_moment(), v_before);
  EXPECT_EQ(optimizer.steps(), 2);
}

// `bytes` with its trailing digest recomputed, as a writer of bad states would.
std::string Resealed(std::string bytes) {
  const size_t body = bytes.size() - crypto::kSha256Size;
  const crypto::Sha256Digest digest = crypto::Sha256(crypto::AsBytes(bytes).first(body));
  bytes.replace(body, crypto::kSha256Size, std::string(crypto::AsStringView(digest)));
  return bytes;
}

TEST(ServerOptimizerStateTest, RejectsWellSealedStatesWithBadContent) {
  ServerOptimizer optimizer = TrainedYogi(3);
  const std::string bytes = optimizer.SerializeState();
  constexpr size_t kFirstMoment = 26;  // header: 4 + 4 + 1 + 8 + 8 + 1
  constexpr size_t kSecondMoment = kFirstMoment + 12;

  std::string nan_m = bytes;
  nan_m.replace(kFirstMoment, 4, std::string("\x7f\xc0\x00\x00", 4));  // quiet NaN
  EXPECT_THAT(optimizer.RestoreState(Resealed(nan_m)),
              StatusIs(kInvalid, HasSubstr("first moment has a NaN")));
  std::string negative_v = bytes;
  negative_v.replace(kSecondMoment, 4, std::string("\xbf\x80\x00\x00", 4));  // -1.0f
  EXPECT_THAT(optimizer.RestoreState(Resealed(negative_v)),
              StatusIs(kInvalid, HasSubstr("second moment has a negative")));
  std::string unknown_kind = bytes;
  unknown_kind[8] = 9;
  EXPECT_THAT(optimizer.RestoreState(Resealed(unknown_kind)),
              StatusIs(kInvalid, HasSubstr("unknown strategy code 9")));
  std::string future = bytes;
  future[7] = 2;  // version 2, checked before the digest
  EXPECT_THAT(optimizer.RestoreState(future),
              StatusIs(kInvalid, HasSubstr("format version 2 is not supported")));
  EXPECT_THAT(optimizer.RestoreState("PK\3\4 a zip file, not a state"),
              StatusIs(kInvalid, HasSubstr("wrong magic")));
  std::string one_vector = bytes;
  one_vector[25] = 1;
  EXPECT_THAT(optimizer.RestoreState(Resealed(one_vector)),
              StatusIs(kInvalid, HasSubstr("holds 1 state vectors")));
}

TEST(ServerOptimizerStateTest, RefusesTheStateOfAnotherStrategyOrModelSize) {
  const std::string yogi_state = TrainedYogi(3).SerializeState();
  ASSERT_OK_AND_ASSIGN(ServerOptimizer adam,
                       ServerOptimizer::Create(Config(StrategyKind::kFedAdam), 3));
  EXPECT_THAT(
      adam.RestoreState(yogi_state),
      StatusIs(kFailedPrecondition, HasSubstr("for fedyogi but the job's strategy is fedadam")));
  ASSERT_OK_AND_ASSIGN(ServerOptimizer bigger,
                       ServerOptimizer::Create(Config(StrategyKind::kFedYogi), 4));
  EXPECT_THAT(bigger.RestoreState(yogi_state),
              StatusIs(kFailedPrecondition, HasSubstr("for 3 parameters but the model has 4")));
  EXPECT_EQ(bigger.steps(), 0);
}

}  // namespace
}  // namespace tessera::coordinator::strategy
