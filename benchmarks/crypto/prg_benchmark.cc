// The mask generator against memcpy of the same bytes, in the same run: the
// figure is the ratio (target: the AES-256-CTR generator at >= 50% of memcpy
// throughput on one core, for mask-sized buffers).
//
//   tessera_crypto_benchmark --benchmark_filter=PrgVsMemcpy --benchmark_format=json
#include <time.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "crypto/aes_ctr_prg.h"

namespace tessera::crypto {
namespace {

// This thread's CPU time: on a machine shared with other work, time spent
// preempted would otherwise land on whichever operation was running.
double ThreadSeconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Each iteration fills `bytes` of 32-bit mask words, adds a mask onto a
// vector of the same size, and memcpys the same number of bytes; the three
// are timed separately (thread CPU time) and reported as GB/s and as ratios
// to memcpy.
void BM_PrgVsMemcpy(benchmark::State& state) {
  const auto bytes = static_cast<size_t>(state.range(0));
  const size_t words = bytes / sizeof(uint32_t);
  std::vector<uint32_t> out(words, 1), accumulator(words, 2), source(words, 3), target(words, 4);
  const std::vector<uint8_t> key(AesCtrPrg::kKeySize, 0x5A);
  std::unique_ptr<AesCtrPrg> prg = *AesCtrPrg::Create(key);
  double fill_seconds = 0, add_seconds = 0, copy_seconds = 0;
  for (auto _ : state) {
    const double t0 = ThreadSeconds();
    prg->Fill(absl::MakeSpan(out));
    benchmark::ClobberMemory();
    const double t1 = ThreadSeconds();
    prg->AddTo(absl::MakeSpan(accumulator));
    benchmark::ClobberMemory();
    const double t2 = ThreadSeconds();
    std::memcpy(target.data(), source.data(), bytes);
    benchmark::ClobberMemory();
    const double t3 = ThreadSeconds();
    fill_seconds += t1 - t0;
    add_seconds += t2 - t1;
    copy_seconds += t3 - t2;
  }
  benchmark::DoNotOptimize(out.data());
  benchmark::DoNotOptimize(accumulator.data());
  benchmark::DoNotOptimize(target.data());
  const double total = static_cast<double>(bytes) * static_cast<double>(state.iterations());
  state.counters["prg_GBps"] = total / fill_seconds / 1e9;
  state.counters["mask_add_GBps"] = total / add_seconds / 1e9;
  state.counters["memcpy_GBps"] = total / copy_seconds / 1e9;
  state.counters["prg_over_memcpy"] = copy_seconds / fill_seconds;
  state.counters["mask_add_over_memcpy"] = copy_seconds / add_seconds;
  state.SetBytesProcessed(static_cast<int64_t>(total));
}
// 64 KiB and 1 MiB (cache-resident), 4 MB (d = 10^6 words) and 40 MB
// (d = 10^7 words).
BENCHMARK(BM_PrgVsMemcpy)->Arg(64 << 10)->Arg(1 << 20)->Arg(4000000)->Arg(40000000);

}  // namespace
}  // namespace tessera::crypto
