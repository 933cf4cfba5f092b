// The Skellam noise sampler and the distributed-DP encoder and decoder at
// d = 10^6, each against memcpy of the same bytes in the same iteration
// (thread CPU time, so time spent preempted on a shared machine does not
// count). Production randomness (getrandom) unless the name says seeded.
//
//   tessera_privacy_benchmark --benchmark_filter='Skellam|Encoder'
#include <cstring>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/privacy/cpu_time.h"
#include "privacy/distributed_dp.h"
#include "privacy/samplers.h"

namespace tessera::privacy {
namespace {

// Times `bytes` of memcpy.
double MemcpySeconds(std::vector<char>& from, std::vector<char>& to) {
  const double start = ThreadSeconds();
  std::memcpy(to.data(), from.data(), from.size());
  benchmark::ClobberMemory();
  return ThreadSeconds() - start;
}

// Skellam samples of the given variance (int64 each) against memcpy of the
// same 8 bytes per sample. Arg 0: variance; arg 1: 1 = OS CSPRNG, 0 = seeded.
void BM_SkellamSampler(benchmark::State& state) {
  const double variance = static_cast<double>(state.range(0));
  const size_t count = 1 << 20;
  std::unique_ptr<RandomSource> rng;
  if (state.range(1) == 1) {
    rng = *OsRandomSource::Create();
  } else {
    rng = std::make_unique<Xoshiro256StarStar>(1);
  }
  std::vector<int64_t> out(count);
  std::vector<char> from(count * sizeof(int64_t), 1), to(from.size());
  double sample_seconds = 0, copy_seconds = 0;
  for (auto _ : state) {
    const double start = ThreadSeconds();
    FillSkellam(variance, *rng, absl::MakeSpan(out));
    benchmark::ClobberMemory();
    sample_seconds += ThreadSeconds() - start;
    copy_seconds += MemcpySeconds(from, to);
  }
  benchmark::DoNotOptimize(out.data());
  const double samples = static_cast<double>(count) * static_cast<double>(state.iterations());
  state.SetLabel(state.range(1) == 1 ? "getrandom" : "seeded");
  state.counters["samples_per_s"] = samples / sample_seconds;
  state.counters["memcpy_samples_per_s"] = samples / copy_seconds;
  state.counters["sampler_over_memcpy"] = copy_seconds / sample_seconds;
}
BENCHMARK(BM_SkellamSampler)
    ->Args({100, 1})
    ->Args({10000, 1})
    ->Args({1000000000, 1})
    ->Args({1000000000, 0})
    ->Unit(benchmark::kMillisecond);

// One site's encode (clip, rotate, scale, conditional rounding, Skellam
// share, wrap) and the coordinator's decode of a sum, at d = 10^6 with the
// parameters PlanDistributedDp picks for 10 sites, threshold 7, 20 bits and
// noise multiplier 1; memcpy of the d floats (4 MB) is the baseline.
void BM_EncoderThroughput(benchmark::State& state) {
  const int64_t d = 1000000;
  DistributedDpPlanRequest request;
  request.dimension = d;
  request.clip_norm = 1.0;
  request.noise_multiplier = 1.0;
  request.min_sites = 7;
  request.max_sites = 10;
  request.bits = 20;
  const DistributedDpConfig config = *PlanDistributedDp(request);
  const DistributedDpEncoder encoder = *DistributedDpEncoder::Create(config);
  std::unique_ptr<OsRandomSource> rng = *OsRandomSource::Create();
  std::vector<float> update(static_cast<size_t>(d));
  Xoshiro256StarStar fill(5);
  for (float& v : update) v = static_cast<float>(Uniform01(fill) - 0.5) * 1e-3f;
  std::vector<uint32_t> words(static_cast<size_t>(encoder.padded_dimension()));
  std::vector<float> decoded(static_cast<size_t>(d));
  std::vector<char> from(static_cast<size_t>(d) * sizeof(float), 1), to(from.size());
  double encode_seconds = 0, decode_seconds = 0, copy_seconds = 0;
  uint64_t round = 0;
  for (auto _ : state) {
    double start = ThreadSeconds();
    benchmark::DoNotOptimize(encoder.Encode(update, ++round, *rng, absl::MakeSpan(words)));
    encode_seconds += ThreadSeconds() - start;
    start = ThreadSeconds();
    benchmark::DoNotOptimize(encoder.Decode(words, round, absl::MakeSpan(decoded)));
    decode_seconds += ThreadSeconds() - start;
    copy_seconds += MemcpySeconds(from, to);
  }
  const double values = static_cast<double>(d) * static_cast<double>(state.iterations());
  state.counters["encode_values_per_s"] = values / encode_seconds;
  state.counters["decode_values_per_s"] = values / decode_seconds;
  state.counters["memcpy_values_per_s"] = values / copy_seconds;
  state.counters["encode_over_memcpy"] = copy_seconds / encode_seconds;
  state.counters["decode_over_memcpy"] = copy_seconds / decode_seconds;
  state.counters["site_noise_variance"] = config.site_noise_variance;
  state.counters["scale"] = config.scale;
}
BENCHMARK(BM_EncoderThroughput)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace tessera::privacy
