// Whole SecAgg+ rounds, all sites and the coordinator in one process (one
// core), every message encoded and parsed as a transport would. With
// fresh_authenticators = 1 each party gets its own new PeerAuthenticator in
// every round, so every certificate is parsed and verified every round (a
// site process that starts afresh each round: the worst case); with 0 each
// party keeps one across rounds, as a long-running agent would, so only
// signatures over fresh keys are verified after the first round.
//
// Reported per round (times are thread CPU time, so that other work on a
// shared machine does not inflate them; the CPU column is the whole round):
//   CPU time          the whole round (all sites plus the coordinator)
//   client_ms         mean time one surviving site spends in the round
//   server_ms         the coordinator's time in the round
//   wire_ratio        mean bytes a surviving site sends and receives in the
//                     round, divided by d * b / 8 (the bare input vector)
//   dropped           sites that drop out after sharing their keys and
//                     before sending their masked input (the costliest
//                     moment for the coordinator), chosen at random among
//                     sets the round survives
//
//   tessera_crypto_benchmark --benchmark_filter=SecAggRound --benchmark_format=json
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/messages.h"
#include "crypto/secagg/round_parameters.h"
#include "crypto/secagg/server.h"
#include "tests/crypto/secagg/federation_fixture.h"

namespace tessera::crypto::secagg {
namespace {

using testing::TestFederation;

constexpr uint32_t kBitWidth = 16;

double ThreadSeconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Accumulates the CPU time spent in calls made on behalf of one party.
class Stopwatch {
 public:
  template <typename F>
  auto Time(F&& f) {
    const double start = ThreadSeconds();
    auto result = f();
    seconds_ += ThreadSeconds() - start;
    return result;
  }
  double seconds() const { return seconds_; }

 private:
  double seconds_ = 0;
};

struct RoundCost {
  std::string error;  // empty when the round completed with the right sum
  double server_seconds = 0;
  double mean_client_seconds = 0;
  double mean_wire_ratio = 0;
};

template <typename Message>
Message Transfer(const Message& message, absl::StatusOr<Message> (*parse)(ByteSpan),
                 Stopwatch& sender, Stopwatch& receiver, uint64_t& sender_bytes,
                 uint64_t& receiver_bytes) {
  const std::vector<uint8_t> bytes = sender.Time([&] { return Serialize(message); });
  sender_bytes += bytes.size();
  receiver_bytes += bytes.size();
  return receiver.Time([&] { return *parse(bytes); });
}

class MeasuredRound {
 public:
  // `authenticators` holds one per party ([0] the coordinator, [u] site u);
  // null entries are made fresh (and timed) in this round.
  MeasuredRound(const RoundParameters& parameters, std::vector<bool> dropped,
                const std::vector<std::vector<uint32_t>>& inputs,
                const std::vector<std::shared_ptr<const PeerAuthenticator>>& authenticators)
      : parameters_(parameters),
        dropped_(std::move(dropped)),
        inputs_(inputs),
        authenticators_(authenticators),
        n_(static_cast<uint32_t>(parameters.participants.size())),
        client_time_(n_ + 1),
        bytes_(n_ + 1, 0) {}

  RoundCost Run() {
    const TestFederation& federation = TestFederation::Get();
    auto authenticator = [&](uint32_t party) {
      return authenticators_[party] != nullptr ? authenticators_[party]
                                               : *PeerAuthenticator::Create(federation.Trust());
    };
    std::unique_ptr<Server> server =
        server_time_.Time([&] { return *federation.MakeServer(parameters_, authenticator(0)); });
    std::vector<std::unique_ptr<Client>> clients(n_ + 1);
    for (uint32_t u = 1; u <= n_; ++u) {
      clients[u] = client_time_[u].Time(
          [&] { return *federation.MakeClient(parameters_, u, authenticator(u)); });
    }
    const RoundContext& context = server->context();
    auto index = [&](const std::string& site) { return *context.IndexOf(site); };
    uint64_t server_bytes = 0;

    for (uint32_t u = 1; u <= n_; ++u) {
      AdvertiseKeys keys = client_time_[u].Time([&] { return *clients[u]->Start(); });
      keys = Transfer(keys, &ParseAdvertiseKeys, client_time_[u], server_time_, bytes_[u],
                      server_bytes);
      Expect(
          server_time_.Time([&] { return server->HandleAdvertiseKeys(context.SiteId(u), keys); }));
    }
    auto lists = server_time_.Time([&] { return server->FinishAdvertiseKeys(); });
    if (!lists.ok()) return Failed(lists.status());
    for (const auto& out : *lists) {
      const uint32_t u = index(out.site_id);
      const KeyList list = Transfer(out.message, &ParseKeyList, server_time_, client_time_[u],
                                    server_bytes, bytes_[u]);
      ShareKeys shares = client_time_[u].Time([&] { return *clients[u]->HandleKeyList(list); });
      shares =
          Transfer(shares, &ParseShareKeys, client_time_[u], server_time_, bytes_[u], server_bytes);
      Expect(server_time_.Time([&] { return server->HandleShareKeys(out.site_id, shares); }));
    }
    auto relays = server_time_.Time([&] { return server->FinishShareKeys(); });
    if (!relays.ok()) return Failed(relays.status());
    for (const auto& out : *relays) {
      const uint32_t u = index(out.site_id);
      if (dropped_[u]) continue;
      const ShareRelay relay = Transfer(out.message, &ParseShareRelay, server_time_,
                                        client_time_[u], server_bytes, bytes_[u]);
      MaskedInput masked =
          client_time_[u].Time([&] { return *clients[u]->HandleShareRelay(relay, inputs_[u]); });
      masked = Transfer(masked, &ParseMaskedInput, client_time_[u], server_time_, bytes_[u],
                        server_bytes);
      Expect(server_time_.Time([&] { return server->HandleMaskedInput(out.site_id, masked); }));
    }
    auto sets = server_time_.Time([&] { return server->FinishMaskedInput(); });
    if (!sets.ok()) return Failed(sets.status());
    for (const auto& out : *sets) {
      const uint32_t u = index(out.site_id);
      const SurvivorSet set = Transfer(out.message, &ParseSurvivorSet, server_time_,
                                       client_time_[u], server_bytes, bytes_[u]);
      ConsistencySignature signature =
          client_time_[u].Time([&] { return *clients[u]->HandleSurvivorSet(set); });
      signature = Transfer(signature, &ParseConsistencySignature, client_time_[u], server_time_,
                           bytes_[u], server_bytes);
      Expect(server_time_.Time(
          [&] { return server->HandleConsistencySignature(out.site_id, signature); }));
    }
    auto requests = server_time_.Time([&] { return server->FinishConsistencyCheck(); });
    if (!requests.ok()) return Failed(requests.status());
    for (const auto& out : *requests) {
      const uint32_t u = index(out.site_id);
      const UnmaskRequest request = Transfer(out.message, &ParseUnmaskRequest, server_time_,
                                             client_time_[u], server_bytes, bytes_[u]);
      UnmaskShares shares =
          client_time_[u].Time([&] { return *clients[u]->HandleUnmaskRequest(request); });
      shares = Transfer(shares, &ParseUnmaskShares, client_time_[u], server_time_, bytes_[u],
                        server_bytes);
      Expect(server_time_.Time([&] { return server->HandleUnmaskShares(out.site_id, shares); }));
    }
    auto result = server_time_.Time([&] { return server->FinishUnmask(); });
    if (!result.ok()) return Failed(result.status());

    std::vector<uint32_t> expected(parameters_.vector_length, 0);
    for (uint32_t u = 1; u <= n_; ++u) {
      if (dropped_[u]) continue;
      for (size_t i = 0; i < expected.size(); ++i) expected[i] += inputs_[u][i];
    }
    for (uint32_t& value : expected) value &= (1u << kBitWidth) - 1;
    if (result->sum != expected) error_ = "the sum is wrong";

    RoundCost cost;
    cost.error = error_;
    cost.server_seconds = server_time_.seconds();
    uint32_t survivors = 0;
    const double input_bytes = static_cast<double>(parameters_.vector_length) * kBitWidth / 8.0;
    for (uint32_t u = 1; u <= n_; ++u) {
      if (dropped_[u]) continue;
      ++survivors;
      cost.mean_client_seconds += client_time_[u].seconds();
      cost.mean_wire_ratio += static_cast<double>(bytes_[u]) / input_bytes;
    }
    cost.mean_client_seconds /= survivors;
    cost.mean_wire_ratio /= survivors;
    return cost;
  }

 private:
  void Expect(const absl::Status& status) {
    if (!status.ok() && error_.empty()) error_ = status.ToString();
  }
  RoundCost Failed(const absl::Status& status) {
    RoundCost cost;
    cost.error = status.ToString();
    return cost;
  }

  const RoundParameters& parameters_;
  const std::vector<bool> dropped_;
  const std::vector<std::vector<uint32_t>>& inputs_;
  const std::vector<std::shared_ptr<const PeerAuthenticator>>& authenticators_;
  const uint32_t n_;
  Stopwatch server_time_;
  std::vector<Stopwatch> client_time_;
  std::vector<uint64_t> bytes_;
  std::string error_;
};

// About 2 log2 n, rounded to an even number (a regular graph for any n).
uint32_t LogNeighbours(uint32_t n) {
  const auto k = static_cast<uint32_t>(std::lround(2 * std::log2(static_cast<double>(n))));
  return std::min(n - 1, k + (k % 2));
}

// Random sites to drop after sharing, skipping any whose loss would leave a
// remaining site with fewer than t remaining neighbours (so the round can
// complete).
std::vector<bool> SurvivableDropouts(const RoundContext& context, uint32_t percent, uint64_t seed) {
  const uint32_t n = context.size();
  const uint32_t target = n * percent / 100;
  std::vector<bool> dropped(n + 1, false);
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i + 1;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  uint32_t count = 0;
  for (uint32_t candidate : order) {
    if (count == target) break;
    dropped[candidate] = true;
    bool survivable = true;
    for (uint32_t u = 1; u <= n && survivable; ++u) {
      if (dropped[u]) continue;
      uint32_t alive = 0;
      for (uint32_t v : context.graph().Neighbours(u)) alive += dropped[v] ? 0u : 1u;
      survivable = alive >= context.threshold();
    }
    if (survivable) {
      ++count;
    } else {
      dropped[candidate] = false;
    }
  }
  return dropped;
}

// Arguments: n, d, k (0 = complete graph), dropout percent,
// fresh_authenticators (1 or 0, see the top of the file).
void BM_SecAggRound(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  const auto d = static_cast<uint64_t>(state.range(1));
  const uint32_t k = state.range(2) == 0 ? n - 1 : static_cast<uint32_t>(state.range(2));
  const auto percent = static_cast<uint32_t>(state.range(3));
  const bool fresh = state.range(4) != 0;
  const uint32_t t = k / 2 + 1;
  const RoundParameters parameters =
      TestFederation::Get().Parameters(n, k, t, kBitWidth, d, /*seed=*/n * 1000 + k);
  const RoundContext context = *RoundContext::Create(parameters);
  const std::vector<bool> dropped = SurvivableDropouts(context, percent, n + percent);
  std::vector<std::vector<uint32_t>> inputs(n + 1);
  std::mt19937 rng(n);
  for (uint32_t u = 1; u <= n; ++u) {
    inputs[u].resize(d);
    for (uint32_t& value : inputs[u]) value = rng() & ((1u << kBitWidth) - 1);
  }
  std::vector<std::shared_ptr<const PeerAuthenticator>> authenticators(n + 1);
  if (!fresh) {
    // Kept across rounds: warm them with one untimed round.
    for (auto& authenticator : authenticators) {
      authenticator = *PeerAuthenticator::Create(TestFederation::Get().Trust());
    }
    MeasuredRound(parameters, dropped, inputs, authenticators).Run();
  }
  RoundCost total;
  for (auto _ : state) {
    const RoundCost cost = MeasuredRound(parameters, dropped, inputs, authenticators).Run();
    if (!cost.error.empty()) {
      state.SkipWithError(cost.error.c_str());
      return;
    }
    total.server_seconds += cost.server_seconds;
    total.mean_client_seconds += cost.mean_client_seconds;
    total.mean_wire_ratio += cost.mean_wire_ratio;
  }
  const auto rounds = static_cast<double>(state.iterations());
  state.counters["client_ms"] = 1e3 * total.mean_client_seconds / rounds;
  state.counters["server_ms"] = 1e3 * total.server_seconds / rounds;
  state.counters["wire_ratio"] = total.mean_wire_ratio / rounds;
  state.counters["dropped"] = static_cast<double>(std::count(dropped.begin(), dropped.end(), true));
  state.counters["k"] = k;
  state.counters["t"] = t;
  state.SetLabel(absl::StrCat("n=", n, " d=", d, " k=", k, state.range(2) == 0 ? " (complete)" : "",
                              " t=", t, " b=", kBitWidth, " drop=", percent, "%",
                              fresh ? " fresh authenticators" : " kept authenticators"));
}

// The published comparison point first: n = 50, d = 10^5, complete graph
// (Flower's SecAgg+ needs about 36.6 s per round for this on a 2-core
// machine, 1.9 s with 3 neighbours).
BENCHMARK(BM_SecAggRound)
    ->Args({50, 100000, 0, 0, 1})
    ->Args({50, 100000, 0, 0, 0})
    ->Args({50, 100000, 3, 0, 1})
    ->Args({50, 100000, 3, 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// The grid: complete graphs for n <= 50 (and n = 100 at d = 10^5), about
// 2 log2 n neighbours for every n; 0, 10 and 30% dropouts.
void Grid(benchmark::internal::Benchmark* benchmark) {
  for (int64_t n : {10, 50, 100, 200}) {
    for (int64_t d : {100000, 1000000}) {
      const bool complete = n <= 50 || (n == 100 && d == 100000);
      for (int64_t k : {int64_t{0}, int64_t{LogNeighbours(static_cast<uint32_t>(n))}}) {
        if (k == 0 && !complete) continue;
        for (int64_t percent : {0, 10, 30}) benchmark->Args({n, d, k, percent, 1});
      }
    }
  }
}
BENCHMARK(BM_SecAggRound)->Apply(Grid)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace tessera::crypto::secagg
