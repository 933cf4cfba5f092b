#include "crypto/secagg/neighbour_graph.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto::secagg {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

std::array<uint8_t, 32> Seed(uint64_t value) {
  std::array<uint8_t, 32> seed{};
  std::mt19937_64 rng(value);
  for (uint8_t& byte : seed) byte = static_cast<uint8_t>(rng());
  return seed;
}

// Every (n, k) with a regular graph, for n up to 40, two seeds each: each
// site has exactly min(k, n-1) distinct neighbours, never itself, lists are
// sorted, and "neighbour" is symmetric and agrees with the lists.
TEST(NeighbourGraphTest, IsRegularAndSymmetric) {
  for (uint32_t n = 3; n <= 40; ++n) {
    for (uint32_t k = 1; k <= n; ++k) {
      if (k < n - 1 && k % 2 == 1 && n % 2 == 1) continue;
      for (uint64_t seed : {1u, 2u}) {
        ASSERT_OK_AND_ASSIGN(NeighbourGraph graph, NeighbourGraph::Create(n, k, Seed(seed)));
        const uint32_t degree = std::min(k, n - 1);
        ASSERT_EQ(graph.degree(), degree);
        ASSERT_EQ(graph.complete(), degree == n - 1);
        for (uint32_t a = 1; a <= n; ++a) {
          const std::vector<uint32_t> neighbours = graph.Neighbours(a);
          ASSERT_EQ(neighbours.size(), degree) << "n=" << n << " k=" << k << " a=" << a;
          ASSERT_TRUE(std::is_sorted(neighbours.begin(), neighbours.end()));
          ASSERT_EQ(std::adjacent_find(neighbours.begin(), neighbours.end()), neighbours.end());
          for (uint32_t b = 1; b <= n; ++b) {
            const bool listed = std::binary_search(neighbours.begin(), neighbours.end(), b);
            ASSERT_EQ(graph.AreNeighbours(a, b), listed) << "n=" << n << " k=" << k;
            ASSERT_EQ(graph.AreNeighbours(a, b), graph.AreNeighbours(b, a));
          }
          ASSERT_FALSE(graph.AreNeighbours(a, a));
        }
      }
    }
  }
}

bool ConnectedWithout(const NeighbourGraph& graph, const std::vector<bool>& removed) {
  const uint32_t n = graph.size();
  uint32_t start = 1;
  while (start <= n && removed[start]) ++start;
  std::vector<bool> seen(n + 1, false);
  std::deque<uint32_t> queue = {start};
  seen[start] = true;
  uint32_t reached = 0;
  while (!queue.empty()) {
    const uint32_t a = queue.front();
    queue.pop_front();
    ++reached;
    for (uint32_t b : graph.Neighbours(a)) {
      if (!removed[b] && !seen[b]) {
        seen[b] = true;
        queue.push_back(b);
      }
    }
  }
  uint32_t remaining = 0;
  for (uint32_t a = 1; a <= n; ++a) remaining += removed[a] ? 0u : 1u;
  return reached == remaining;
}

// Harary graphs H(k, n) are k-connected (Harary 1962), and relabelling keeps
// that: removing any k - 1 sites leaves the others connected. Checked for
// random removals.
TEST(NeighbourGraphTest, StaysConnectedAfterRemovingAnyKMinusOneSites) {
  std::mt19937 rng(3);
  for (auto [n, k] : {std::pair<uint32_t, uint32_t>{20, 4}, {21, 6}, {30, 5}, {64, 12}}) {
    ASSERT_OK_AND_ASSIGN(NeighbourGraph graph, NeighbourGraph::Create(n, k, Seed(n + k)));
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint32_t> order(n);
      for (uint32_t i = 0; i < n; ++i) order[i] = i + 1;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<bool> removed(n + 1, false);
      for (uint32_t i = 0; i + 1 < k; ++i) removed[order[i]] = true;
      ASSERT_TRUE(ConnectedWithout(graph, removed)) << "n=" << n << " k=" << k;
    }
  }
}

TEST(NeighbourGraphTest, DependsOnlyOnTheSeed) {
  ASSERT_OK_AND_ASSIGN(NeighbourGraph a, NeighbourGraph::Create(50, 8, Seed(9)));
  ASSERT_OK_AND_ASSIGN(NeighbourGraph b, NeighbourGraph::Create(50, 8, Seed(9)));
  ASSERT_OK_AND_ASSIGN(NeighbourGraph c, NeighbourGraph::Create(50, 8, Seed(10)));
  bool differs = false;
  for (uint32_t u = 1; u <= 50; ++u) {
    EXPECT_EQ(a.Neighbours(u), b.Neighbours(u));
    differs = differs || a.Neighbours(u) != c.Neighbours(u);
  }
  EXPECT_TRUE(differs);
}

// The random relabelling makes any two sites neighbours with probability
// k / (n - 1). Over 4,000 seeds with n = 10, k = 4 the count for sites 1 and
// 2 is Binomial(4000, 4/9): mean 1777.8, standard deviation 31.4. We allow 5
// standard deviations (false-failure rate about 6e-7); a fixed, unpermuted
// Harary graph would give 0 or 4000.
TEST(NeighbourGraphTest, RelabellingMakesEveryPairEquallyLikelyNeighbours) {
  constexpr int kSeeds = 4000;
  int together = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    ASSERT_OK_AND_ASSIGN(NeighbourGraph graph,
                         NeighbourGraph::Create(10, 4, Seed(static_cast<uint64_t>(seed) + 100)));
    together += graph.AreNeighbours(1, 2) ? 1 : 0;
  }
  const double p = 4.0 / 9.0;
  const double mean = kSeeds * p;
  const double sd = std::sqrt(kSeeds * p * (1 - p));
  EXPECT_LT(std::abs(together - mean), 5 * sd) << together;
}

TEST(NeighbourGraphTest, RejectsImpossibleShapes) {
  EXPECT_THAT(NeighbourGraph::Create(9, 3, Seed(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("use 4 neighbours")));
  EXPECT_THAT(NeighbourGraph::Create(1, 1, Seed(1)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NeighbourGraph::Create(5, 0, Seed(1)), StatusIs(absl::StatusCode::kInvalidArgument));
  // Odd k with even n uses the diameter chord; k >= n - 1 is complete.
  EXPECT_OK(NeighbourGraph::Create(10, 3, Seed(1)).status());
  ASSERT_OK_AND_ASSIGN(NeighbourGraph complete, NeighbourGraph::Create(9, 100, Seed(1)));
  EXPECT_TRUE(complete.complete());
  EXPECT_EQ(complete.degree(), 8u);
}

}  // namespace
}  // namespace tessera::crypto::secagg
