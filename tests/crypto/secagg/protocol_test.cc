// Whole SecAgg+ rounds between one Server and n Clients, with random
// parameters and random dropouts before or during every stage, each checked
// against an independent statement of the completion condition (see
// crypto/secagg/server.h): the exact sum of the survivors' inputs when it
// holds, a clean ABORTED naming exactly the sites whose masks cannot be
// removed when it does not.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crypto/secagg/round_parameters.h"
#include "gtest/gtest.h"
#include "tests/crypto/secagg/federation_fixture.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto::secagg {
namespace {

using testing::DropPlan;
using testing::kStageCount;
using testing::RoundRun;
using testing::RunRound;
using testing::TestFederation;

struct Prediction {
  bool completes = false;
  std::vector<uint32_t> survivors;   // U3
  std::set<uint32_t> unrecoverable;  // sites whose masks cannot be removed
};

// The completion condition, restated from the protocol description rather
// than from the server's code: a site answers a stage only if it was asked
// (it had at least t neighbours in the previous set) and is not silent or
// late at that stage.
Prediction Predict(const RoundContext& context, const DropPlan& plan) {
  const uint32_t n = context.size();
  const uint32_t t = context.threshold();
  auto neighbours_in = [&](uint32_t v, const std::vector<bool>& set) {
    uint32_t count = 0;
    for (uint32_t u : context.graph().Neighbours(v)) {
      if (set[u]) ++count;
    }
    return count;
  };
  auto answered = [&](size_t stage, uint32_t u) {
    return !plan.silent[stage][u] && !plan.late[stage][u];
  };
  // asked[s][u]: u was asked for its stage-s message; got[s][u]: it arrived in time.
  std::vector<std::vector<bool>> asked(kStageCount, std::vector<bool>(n + 1, false));
  std::vector<std::vector<bool>> got(kStageCount, std::vector<bool>(n + 1, false));
  for (uint32_t u = 1; u <= n; ++u) asked[0][u] = true;
  for (size_t s = 0; s < kStageCount; ++s) {
    // A site that was silent or late earlier never answers again.
    for (uint32_t u = 1; u <= n; ++u) {
      bool earlier_miss = false;
      for (size_t e = 0; e < s; ++e) earlier_miss = earlier_miss || !answered(e, u);
      got[s][u] = asked[s][u] && answered(s, u) && !earlier_miss;
    }
    if (s + 1 < kStageCount) {
      for (uint32_t u = 1; u <= n; ++u) {
        asked[s + 1][u] = got[s][u] && neighbours_in(u, got[s]) >= t;
      }
    }
  }
  Prediction prediction;
  for (uint32_t u = 1; u <= n; ++u) {
    if (got[2][u]) prediction.survivors.push_back(u);
  }
  // v holds u's shares iff v was sent a relay (asked for stage 2) that
  // included u (u's ShareKeys arrived and u neighbours v).
  auto holds = [&](uint32_t v, uint32_t u) {
    return asked[2][v] && got[1][u] && context.graph().AreNeighbours(u, v);
  };
  for (uint32_t u = 1; u <= n; ++u) {
    bool needed = got[2][u];
    for (uint32_t v : prediction.survivors) needed = needed || (got[1][u] && holds(v, u));
    if (!needed) continue;
    uint32_t available = 0;
    for (uint32_t v : context.graph().Neighbours(u)) {
      if (got[4][v] && holds(v, u)) ++available;
    }
    if (available < t) prediction.unrecoverable.insert(u);
  }
  prediction.completes = !prediction.survivors.empty() && prediction.unrecoverable.empty();
  return prediction;
}

// The sites named as "`site-xyz` (" in an abort message.
std::set<std::string> NamedUnrecoverable(const std::string& message) {
  std::set<std::string> named;
  for (size_t at = message.find('`'); at != std::string::npos; at = message.find('`', at + 1)) {
    const size_t end = message.find('`', at + 1);
    if (end == std::string::npos) break;
    if (message.compare(end, 3, "` (") == 0) named.insert(message.substr(at + 1, end - at - 1));
    at = end;
  }
  return named;
}

// Runs one round and checks it against the prediction. Returns whether it
// completed.
bool RunAndCheck(const RoundParameters& parameters, const DropPlan& plan, uint64_t seed,
                 const std::string& label) {
  absl::StatusOr<RoundContext> context = RoundContext::Create(parameters);
  EXPECT_TRUE(context.ok()) << label << ": " << context.status();
  if (!context.ok()) return false;
  const Prediction prediction = Predict(*context, plan);
  const RoundRun run = RunRound(parameters, plan, seed);
  EXPECT_TRUE(run.unexpected.empty()) << label << ": " << run.unexpected.front();
  if (prediction.completes) {
    EXPECT_TRUE(run.result.ok()) << label << ": expected the round to complete, got "
                                 << run.result.status();
    if (!run.result.ok()) return false;
    const uint32_t mask =
        parameters.bit_width == 32 ? 0xFFFFFFFFu : (uint32_t{1} << parameters.bit_width) - 1;
    std::vector<uint32_t> expected(parameters.vector_length, 0);
    std::vector<std::string> included;
    for (uint32_t u : prediction.survivors) {
      for (size_t i = 0; i < expected.size(); ++i) expected[i] += run.inputs[u][i];
      included.push_back(context->SiteId(u));
    }
    for (uint32_t& value : expected) value &= mask;
    EXPECT_EQ(run.result->sum, expected) << label;
    EXPECT_EQ(run.result->included_sites, included) << label;
    EXPECT_TRUE(run.result->misbehaving_sites.empty()) << label;
    return true;
  }
  EXPECT_THAT(run.result, ::tessera::testing::StatusIs(absl::StatusCode::kAborted)) << label;
  if (!run.result.ok() && !prediction.unrecoverable.empty()) {
    const std::set<std::string> named =
        NamedUnrecoverable(std::string(run.result.status().message()));
    std::set<std::string> expected_names;
    for (uint32_t u : prediction.unrecoverable) expected_names.insert(context->SiteId(u));
    EXPECT_FALSE(named.empty()) << label << ": " << run.result.status();
    for (const std::string& site : named) {
      EXPECT_TRUE(expected_names.count(site))
          << label << ": names " << site << " in " << run.result.status();
    }
  }
  return false;
}

// A neighbour count with a regular graph on n sites: complete (for n up to
// 16; larger complete graphs are exercised by the benchmarks), or 2 to
// min(n - 2, 16) neighbours, made even when n is odd.
uint32_t RandomNeighbours(std::mt19937_64& rng, uint32_t n) {
  if (n <= 4 || (n <= 16 && rng() % 3 == 0)) return 0;  // complete
  const uint32_t most = std::min(n - 2, 16u);
  uint32_t k = 2 + static_cast<uint32_t>(rng() % (most - 1));  // 2..most
  if (k % 2 == 1 && n % 2 == 1) k = k == most ? k - 1 : k + 1;
  return k;
}

DropPlan RandomPlan(std::mt19937_64& rng, uint32_t n, double drop_rate) {
  DropPlan plan = DropPlan::None(n);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (uint32_t u = 1; u <= n; ++u) {
    if (uniform(rng) >= drop_rate) continue;
    const auto stage = static_cast<size_t>(rng() % kStageCount);
    (rng() % 3 == 0 ? plan.late : plan.silent)[stage][u] = true;
  }
  return plan;
}

TEST(SecAggProtocolTest, ExactSumWithoutDropouts) {
  const TestFederation& federation = TestFederation::Get();
  struct Case {
    uint32_t n, k, t, b;
  };
  const Case cases[] = {{3, 0, 2, 32}, {4, 0, 2, 1},  {5, 0, 3, 16},  {6, 3, 2, 8},
                        {8, 4, 3, 13}, {9, 6, 4, 31}, {13, 4, 3, 32}, {16, 5, 3, 20}};
  for (const Case& c : cases) {
    const std::string label = absl::StrCat("n=", c.n, " k=", c.k, " t=", c.t, " b=", c.b);
    EXPECT_TRUE(RunAndCheck(federation.Parameters(c.n, c.k, c.t, c.b, 37, c.n * 100 + c.b),
                            DropPlan::None(c.n), c.n, label))
        << label;
  }
}

TEST(SecAggProtocolTest, LongVectorsAtEveryBitWidthBoundary) {
  // Vectors long enough to cross the mask generator's internal blocks, at bit
  // widths where packing is byte-aligned and where it is not.
  const TestFederation& federation = TestFederation::Get();
  for (uint32_t b : {1u, 7u, 8u, 16u, 17u, 32u}) {
    DropPlan plan = DropPlan::None(6);
    plan.silent[2][4] = true;  // one dropout, so pairwise masks are removed too
    EXPECT_TRUE(
        RunAndCheck(federation.Parameters(6, 0, 3, b, 20011, b), plan, b, absl::StrCat("b=", b)));
  }
}

// Runs `runs` seeded rounds with n drawn from [min_n, max_n] and random
// graph, threshold, bit width, vector length and dropouts (silent or late)
// at every stage; returns how many completed.
int RunRandomRounds(uint64_t first_seed, int runs, uint32_t min_n, uint32_t max_n) {
  const TestFederation& federation = TestFederation::Get();
  int completed = 0;
  for (int run = 0; run < runs; ++run) {
    const uint64_t seed = first_seed + static_cast<uint64_t>(run);
    std::mt19937_64 rng(seed);
    const uint32_t n = min_n + static_cast<uint32_t>(rng() % (max_n - min_n + 1));
    const uint32_t requested = RandomNeighbours(rng, n);
    const uint32_t k = requested == 0 ? n - 1 : requested;
    const uint32_t t = k / 2 + 1 + static_cast<uint32_t>(rng() % (k - k / 2));
    const uint32_t b = 1 + static_cast<uint32_t>(rng() % 32);
    const uint64_t d = 1 + rng() % 8;
    const double drop_rate = std::uniform_real_distribution<double>(0, 0.35)(rng);
    const DropPlan plan = RandomPlan(rng, n, drop_rate);
    const std::string label = absl::StrCat("seed ", seed, ": n=", n, " k=", k, " t=", t, " b=", b,
                                           " d=", d, " drop rate=", drop_rate);
    if (RunAndCheck(federation.Parameters(n, requested, t, b, d, rng(), seed), plan, rng(),
                    label)) {
      ++completed;
    }
    if (::testing::Test::HasFailure()) break;  // one detailed failure is enough
  }
  return completed;
}

// 2,000 seeded rounds among 3 to 8 sites, where thresholds and dropouts
// interact most densely.
TEST(SecAggProtocolTest, RandomSmallRoundsMatchTheCompletionCondition) {
  constexpr int kRuns = 2000;
  const int completed = RunRandomRounds(10000, kRuns, 3, 8);
  // Both outcomes must be exercised many times for the test to mean anything.
  EXPECT_GT(completed, kRuns / 5);
  EXPECT_LT(completed, kRuns * 9 / 10);
}

// 100 seeded rounds among 9 to 40 sites.
TEST(SecAggProtocolTest, RandomMediumRoundsMatchTheCompletionCondition) {
  constexpr int kRuns = 100;
  const int completed = RunRandomRounds(20000, kRuns, 9, 40);
  EXPECT_GT(completed, kRuns / 5);
  EXPECT_LT(completed, kRuns * 9 / 10);
}

// Federations of 100 to 200 sites on sparse graphs (k about 2 log2 n).
TEST(SecAggProtocolTest, LargeFederationsOnSparseGraphs) {
  const TestFederation& federation = TestFederation::Get();
  int completed = 0;
  int runs = 0;
  for (uint32_t n : {100u, 150u, 200u}) {
    for (int variant = 0; variant < 2; ++variant) {
      std::mt19937_64 rng(n * 10 + static_cast<uint64_t>(variant));
      const uint32_t k = n == 100 ? 14 : 16;
      const uint32_t t = k / 2 + 2;
      const DropPlan plan = RandomPlan(rng, n, variant == 0 ? 0.05 : 0.3);
      ++runs;
      if (RunAndCheck(federation.Parameters(n, k, t, 16, 4, rng(), 500 + n), plan, rng(),
                      absl::StrCat("n=", n, " variant ", variant))) {
        ++completed;
      }
    }
  }
  EXPECT_GE(completed, 3) << "of " << runs;
}

}  // namespace
}  // namespace tessera::crypto::secagg
