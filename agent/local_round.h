// What a site computes for one round, from its own records: the statistics
// vector of a statistics round, or the evaluation of the incoming global
// model on its hold-out split and the model update of a training round.
// The results are plain float/double vectors laid out for secure
// aggregation; encoding and masking happen in the task runner.
//
// Nothing here logs or returns a patient value: only counts, sums over
// records and model parameters leave these functions.
//
// Thread-safety: stateless functions; each call builds its own model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/data/dataset.h"
#include "agent/data/encoder.h"
#include "agent/data/statistics.h"
#include "coordinator/job/job_spec.h"
#include "coordinator/strategy/aggregate_layout.h"
#include "model/trainer.h"

namespace tessera::agent {

// The example count at which a site's FedAvg weight saturates: weights are
// min(n, cap) / cap in (0, 1] (see coordinator/strategy/server_optimizer.h).
inline constexpr int64_t kWeightCap = 10000;

// A statistics round: this site's counts, sums and sums of squares of its
// training records' numeric features (agent/data/statistics.h layout).
absl::StatusOr<data::LocalStatistics> RoundStatistics(const data::DatasetConfig& dataset,
                                                      const coordinator::JobSpec& spec);

// The standardisation of a training task: parsed from the task's JSON, or
// empty (no numeric features). INVALID_ARGUMENT when it does not parse or
// does not match the job's numeric features.
absl::StatusOr<data::Standardization> ParseStandardization(const coordinator::JobSpec& spec,
                                                           const std::string& json);

// A site's training data, read and encoded once per round.
struct LocalData {
  data::EncodedDataset encoded;
  int64_t training_records() const { return encoded.training.features.rows(); }
};
absl::StatusOr<LocalData> LoadLocalData(const data::DatasetConfig& dataset,
                                        const coordinator::JobSpec& spec,
                                        const data::Standardization& standardization);

struct TrainingRoundInput {
  std::string model_bytes;          // the job's model file (TorchScript)
  Eigen::VectorXf global;           // the global parameters the round starts from
  std::optional<double> dp_noise_multiplier;  // record-level DP-SGD when set
  uint64_t seed = 0;                // shuffling of non-private training
};

struct TrainingRoundOutput {
  std::vector<float> aggregate;     // layout.size() values: update, weight, eval.*
  int64_t steps = 0;
  std::optional<model::DpSgdReport> dp;
  double update_norm = 0;           // L2 norm of the (weighted) update, for the log
};

// Evaluates the global model on the hold-out split, trains from it on the
// training split and fills the round's aggregate vector. INVALID_ARGUMENT
// when the model does not fit the data or the global parameters; the
// trainer's errors otherwise.
absl::StatusOr<TrainingRoundOutput> RunTrainingRound(const coordinator::JobSpec& spec,
                                                     const coordinator::strategy::AggregateLayout& layout,
                                                     const LocalData& data,
                                                     const TrainingRoundInput& input);

}  // namespace tessera::agent
