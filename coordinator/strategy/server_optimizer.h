// The coordinator's aggregation strategies: from the global parameters x_t
// and the round's securely aggregated sum of site updates, the next global
// parameters x_{t+1}.
//
// Each site k sends an update Δ_k = (its parameters after local training) −
// x_t. The coordinator never sees a single Δ_k, only sums over the sites
// that finished (secure aggregation), so every strategy starts from the
// average Δ̄ computed out of those sums in one of two ways (StrategyConfig::
// averaging):
//
//   weighted  (McMahan et al. 2017, arXiv:1602.05629, Algorithm 1):
//             Δ̄ = Σ_k w_k Δ_k / Σ_k w_k.
//             Site k multiplies its clipped update by its weight w_k before
//             encoding and masking, so the update block sums to Σ w_k Δ_k, and
//             writes w_k into the `weight` slot, which sums to Σ w_k. w_k is
//             the site's example count capped at a public bound n_cap; since
//             Δ̄ does not change when every w_k is scaled by the same factor,
//             sites should send w_k = min(n_k, n_cap) / n_cap in (0, 1], which
//             keeps ||w_k Δ_k|| within the clip norm the privacy accounting
//             assumes (DP-FedAvg's bounded weights w_k = min(n_k / ŵ, 1),
//             McMahan et al. 2018, arXiv:1710.06963).
//   uniform   Δ̄ = Σ_k Δ_k / n, n = the number of sites in the sum, which the
//             coordinator knows from secure aggregation. Sites send their
//             clipped update unweighted; the weight slot is not read.
//
// Then, with eta the server learning rate and all vector operations
// coordinate-wise:
//
//   FedAvg, FedProx  x_{t+1} = x_t + eta Δ̄
//                    (FedProx differs only on the sites: Li et al. 2020,
//                    arXiv:1812.06127, Eq. 2)
//   FedAvgM          m_t = momentum m_{t-1} + Δ̄;  x_{t+1} = x_t + eta m_t
//                    (Hsu, Qi & Brown 2019, arXiv:1909.06335, server
//                    momentum; their Δ is x_t − local, hence the sign)
//   FedAdagrad       m_t = beta1 m_{t-1} + (1 − beta1) Δ̄
//                    v_t = v_{t-1} + Δ̄²
//   FedYogi          m_t as FedAdagrad
//                    v_t = v_{t-1} − (1 − beta2) Δ̄² sign(v_{t-1} − Δ̄²)
//   FedAdam          m_t as FedAdagrad
//                    v_t = beta2 v_{t-1} + (1 − beta2) Δ̄²
//   (all three)      x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau)
//
// exactly as Reddi et al. 2021, "Adaptive Federated Optimization"
// (arXiv:2003.00295), Algorithm 2, lines for m_t, v_t and x_{t+1}: no bias
// correction, m_{-1} = 0, v_{-1} = tau² (the algorithm asks v_{-1} ≥ tau²),
// sign(0) = 0. FedAvgM starts from m_{-1} = 0.
//
// The state (m, v) carries across rounds and serialises to bytes for
// checkpoints (SerializeState / RestoreState).
//
// Thread-safety: a ServerOptimizer is a single-threaded value; Step and
// RestoreState mutate it. Drive it from the coordinator's round strand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/flat_params.h"
#include "coordinator/strategy/aggregate_layout.h"
#include "coordinator/strategy/strategy_config.h"

namespace tessera::coordinator::strategy {

// The parts of a decoded aggregate a strategy reads.
struct AggregatedUpdate {
  absl::Span<const float> sum;         // Σ w_k Δ_k (weighted) or Σ Δ_k (uniform)
  std::optional<double> total_weight;  // Σ w_k: the `weight` slot, when the layout has one
  int64_t sites = 0;                   // n: how many sites the sum holds
};

// The update block and weight slot of `aggregate`, laid out by `layout`,
// from `sites` sites. INVALID_ARGUMENT when the aggregate has the wrong size
// or any NaN or infinite value (AggregateLayout::CheckFinite), or when sites
// is below 1. The result views `aggregate`, which must outlive it.
absl::StatusOr<AggregatedUpdate> ReadAggregatedUpdate(const AggregateLayout& layout,
                                                      absl::Span<const float> aggregate,
                                                      int64_t sites);

class ServerOptimizer {
 public:
  // A strategy for models of `dimension` parameters, with empty state.
  // INVALID_ARGUMENT when the config is invalid (ValidateStrategyConfig) or
  // dimension is below 1.
  static absl::StatusOr<ServerOptimizer> Create(const StrategyConfig& config, int64_t dimension);

  const StrategyConfig& config() const { return config_; }
  int64_t dimension() const { return dimension_; }
  // Steps taken since the state was created, including restored ones.
  int64_t steps() const { return steps_; }

  // The average Δ̄ of the round (see the top of this file).
  // INVALID_ARGUMENT when aggregate.sum does not have dimension() values or
  // holds a NaN or infinite value; for weighted averaging when the total
  // weight is missing (FAILED_PRECONDITION: the layout has no weight slot),
  // not finite, or not positive; for uniform averaging when sites < 1; and
  // when the division overflows.
  absl::StatusOr<Eigen::VectorXf> Average(const AggregatedUpdate& aggregate) const;

  // x_{t+1} from x_t = `params` and the round's aggregate; on success the
  // state moves to round t. Errors as Average(), plus INVALID_ARGUMENT when
  // params has the wrong size or a NaN or infinite value, or when the step
  // would produce a non-finite parameter or state (an overflow). On error
  // the state does not change.
  absl::StatusOr<FlatParams> Step(const FlatParams& params, const AggregatedUpdate& aggregate);

  // The state vectors: m (FedAvgM's momentum buffer, or the first moment of
  // the adaptive strategies) and v (second moment, adaptive only). Empty
  // when the strategy does not use them.
  const Eigen::VectorXf& first_moment() const { return first_moment_; }
  const Eigen::VectorXf& second_moment() const { return second_moment_; }

  // The state as bytes, version 1 (all integers big-endian):
  //   "TSSO"                magic
  //   u32  1                format version
  //   u8   strategy         1 fedavg, 2 fedavgm, 3 fedprox, 4 fedadagrad,
  //                         5 fedadam, 6 fedyogi
  //   u64  dimension
  //   u64  steps
  //   u8   vector count     0, 1 (m) or 2 (m, v), as the strategy uses
  //   vector count × dimension × u32   IEEE-754 float32 bits
  //   32 bytes              SHA-256 (FIPS 180-4) of everything before it
  // Hyperparameters are not stored: they come from the job's config.
  std::string SerializeState() const;

  // Replaces the state with `bytes` from SerializeState(). INVALID_ARGUMENT
  // for bytes that are not such a state or are corrupt (wrong magic,
  // unsupported version, truncated or trailing bytes, digest mismatch, a
  // non-finite value, a negative second moment); FAILED_PRECONDITION for a
  // well-formed state of another strategy or dimension. On error the state
  // does not change.
  absl::Status RestoreState(absl::string_view bytes);

 private:
  ServerOptimizer(const StrategyConfig& config, int64_t dimension);
  int VectorCount() const;

  StrategyConfig config_;
  int64_t dimension_ = 0;
  int64_t steps_ = 0;
  Eigen::VectorXf first_moment_;
  Eigen::VectorXf second_moment_;
};

}  // namespace tessera::coordinator::strategy
