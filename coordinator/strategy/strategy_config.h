// Which aggregation strategy (server optimiser) a job uses and with which
// parameters, read from the job's TOML:
//
//   [strategy]
//   name = "fedadam"              # fedavg, fedavgm, fedprox, fedadagrad, fedadam, fedyogi
//   averaging = "weighted"        # or "uniform"
//   server_learning_rate = 0.01   # eta
//   beta1 = 0.9
//   beta2 = 0.99
//   tau = 1e-3
//
// Keys and defaults (a key that does not apply to the chosen strategy is an
// error, so a misplaced setting is never silently ignored):
//
//   key                   applies to                        default
//   name                  all                               "fedavg"
//   averaging             all                               "weighted"
//   server_learning_rate  all                               1 (fedavg, fedavgm, fedprox),
//                                                           0.01 (fedadagrad, fedadam, fedyogi)
//   momentum              fedavgm                           0.9
//   beta1                 fedadagrad, fedadam, fedyogi      0.9
//   beta2                 fedadam, fedyogi                  0.99
//   tau                   fedadagrad, fedadam, fedyogi      1e-3
//   proximal_mu           fedprox (required)                none
//
// FedAvg and its server learning rate: McMahan et al. 2017 (arXiv:1602.05629,
// Algorithm 1) average the sites' models, i.e. eta = 1; FedAvgM: Hsu, Qi &
// Brown 2019 (arXiv:1909.06335), server momentum, 0.9 as a common start;
// FedAdagrad/FedAdam/FedYogi: Reddi et al. 2021 (arXiv:2003.00295,
// Algorithm 2), whose experiments fix beta1 = 0.9, beta2 = 0.99 and tune tau
// and eta over grids, 1e-3 lying inside their tau grid. The adaptive
// optimisers move each parameter by at most about eta per round (m / sqrt(v)
// is of order 1), so eta = 0.01 is a cautious start; tune it per task.
// FedProx: Li et al. 2020 (arXiv:1812.06127, Eq. 2) add (mu/2)||w - w_t||^2
// to each site's local objective; the server side is FedAvg.
//
// Thread-safety: plain values and stateless functions; ParseStrategyConfig
// uses the caller's ConfigReader, which is single-threaded.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace tessera::coordinator::strategy {

enum class StrategyKind { kFedAvg, kFedAvgM, kFedProx, kFedAdagrad, kFedAdam, kFedYogi };

// How the coordinator turns the summed update into the average Δ̄ (see
// server_optimizer.h for what each asks of the sites).
enum class Averaging {
  kWeighted,  // Δ̄ = Σ w_k Δ_k / Σ w_k, from the update block and the weight slot
  kUniform,   // Δ̄ = Σ Δ_k / n, n = number of sites in the sum
};

// The TOML name of `kind` ("fedavg", "fedadam", ...).
absl::string_view StrategyName(StrategyKind kind);
// The kind called `name`; INVALID_ARGUMENT listing the known names otherwise.
absl::StatusOr<StrategyKind> ParseStrategyName(absl::string_view name);
// True for FedAdagrad, FedAdam and FedYogi.
bool IsAdaptive(StrategyKind kind);

// "weighted" or "uniform".
absl::string_view AveragingName(Averaging averaging);

struct StrategyConfig {
  StrategyKind kind = StrategyKind::kFedAvg;
  Averaging averaging = Averaging::kWeighted;
  double server_learning_rate = 1.0;  // eta
  double momentum = 0.9;              // FedAvgM's beta
  double beta1 = 0.9;                 // adaptive: decay of the first moment m
  double beta2 = 0.99;                // FedAdam, FedYogi: decay of the second moment v
  double tau = 1e-3;                  // adaptive: degree of adaptivity, v_{-1} = tau^2
  // FedProx's mu: applied by each site's trainer (model::TrainOptions::
  // proximal_mu), sent to the sites with the job; 0 for other strategies.
  double proximal_mu = 0.0;
};

// Accepted ranges, shared by the TOML reader and ValidateStrategyConfig.
// The bounds exclude 0 where 0 would stop training (eta) or divide by zero
// (tau), and exclude 1 for the decay rates, which must be < 1.
inline constexpr double kMinServerLearningRate = 1e-9;
inline constexpr double kMaxServerLearningRate = 1e3;
inline constexpr double kMinTau = 1e-12;
inline constexpr double kMaxTau = 1e3;
inline constexpr double kMinProximalMu = 1e-9;
inline constexpr double kMaxProximalMu = 1e6;

// The defaults above for `kind` (proximal_mu stays 0: FedProx has no default).
StrategyConfig DefaultStrategyConfig(StrategyKind kind);

// OK when every parameter the strategy uses is in range; INVALID_ARGUMENT
// naming the parameter otherwise (including FedProx with proximal_mu outside
// [kMinProximalMu, kMaxProximalMu], and a non-zero proximal_mu for another
// strategy).
absl::Status ValidateStrategyConfig(const StrategyConfig& config);

// Reads the table `table` (e.g. "strategy") of `reader`. Problems are
// recorded in `reader`, each naming its key, and reported by
// reader.Finish(); the returned config is meaningful only when Finish() is
// OK. An absent table gives DefaultStrategyConfig(kFedAvg).
StrategyConfig ParseStrategyConfig(ConfigReader& reader, absl::string_view table);

// One line for logs, naming the parameters the strategy uses:
// "fedadam (weighted, server_learning_rate=0.01, beta1=0.9, beta2=0.99, tau=0.001)".
std::string DescribeStrategyConfig(const StrategyConfig& config);

}  // namespace tessera::coordinator::strategy
