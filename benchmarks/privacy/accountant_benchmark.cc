// The RDP and PLD accountants over the grid of 350 settings
// q in {1, 0.5, 0.1, 0.01, 0.001} x z in {0.5, 0.8, 1, 1.1, 2, 4, 10} x
// T in {1, 10, 100, 1000, 10000} x delta in {1e-5, 1e-6}: every setting is a
// fresh accountant (compose T steps, then epsilon at delta), as a user of
// `tessera privacy epsilon` would run it. Reported: total seconds per
// accountant, settings per second and the slowest setting. The Python
// reference libraries take ~15 minutes for this grid on the same machine;
// the target is under 30 s for both accountants together.
//
//   tessera_privacy_benchmark --benchmark_filter=AccountantGrid
#include <algorithm>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/privacy/cpu_time.h"
#include "privacy/calibration.h"

namespace tessera::privacy {
namespace {

struct GridTiming {
  double total = 0;
  double slowest = 0;
  int settings = 0;
  double checksum = 0;  // sum of the epsilons, so that nothing is optimised away
};

GridTiming RunGrid(AccountantKind kind) {
  GridTiming timing;
  for (double q : {1.0, 0.5, 0.1, 0.01, 0.001}) {
    for (double z : {0.5, 0.8, 1.0, 1.1, 2.0, 4.0, 10.0}) {
      for (int64_t steps : {1, 10, 100, 1000, 10000}) {
        for (double delta : {1e-5, 1e-6}) {
          const double start = ThreadSeconds();
          absl::StatusOr<EpsilonReport> report = ComputeEpsilon(kind, {z, q, steps}, delta);
          const double elapsed = ThreadSeconds() - start;
          if (report.ok()) timing.checksum += report->epsilon;
          timing.total += elapsed;
          timing.slowest = std::max(timing.slowest, elapsed);
          ++timing.settings;
        }
      }
    }
  }
  return timing;
}

void BM_AccountantGrid(benchmark::State& state) {
  const AccountantKind kind = state.range(0) == 0 ? AccountantKind::kRdp : AccountantKind::kPld;
  GridTiming timing;
  for (auto _ : state) {
    timing = RunGrid(kind);
    benchmark::DoNotOptimize(timing.checksum);
  }
  state.SetLabel(AccountantKindName(kind));
  state.counters["settings"] = timing.settings;
  state.counters["total_s"] = timing.total;
  state.counters["settings_per_s"] = timing.settings / timing.total;
  state.counters["slowest_s"] = timing.slowest;
}
BENCHMARK(BM_AccountantGrid)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace tessera::privacy
