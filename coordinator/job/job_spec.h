// A federated training job as an ML lead writes it (job.toml) and as every
// party sees it afterwards: the coordinator stores it, governance approves
// it, and each site receives it with every task (canonical JSON, so all
// parties hash and compare the same bytes).
//
//   [job]
//   name = "diabetes-readmission"   # letters, digits, `.`, `_`, `-`
//   description = "30-day readmission risk"
//   dataset = "diabetes"            # the dataset name the sites offer
//
//   [model]
//   kind = "mlp"                    # logistic | mlp | torchscript
//   hidden = [32, 16]               # mlp only
//   file = "model.pt"               # torchscript only, relative to job.toml
//
//   [schema] ...                    # see agent/data/schema.h
//   [split]                         # see agent/data/split.h
//
//   [training]
//   optimizer = "sgd"               # sgd | adam
//   learning_rate = 0.05
//   local_epochs = 1
//   batch_size = 32
//
//   [strategy]                      # see coordinator/strategy/strategy_config.h
//   name = "fedprox"                # fedavg (default) | fedavgm | fedprox | fedadam | ...
//   proximal_mu = 0.01              # FedProx's term, applied by every site's trainer
//
//   [rounds]
//   count = 20
//   min_sites = 3                   # secure aggregation needs at least 3
//   max_sites = 10
//   stage_timeout_seconds = 60
//   max_attempts = 3                # a round that cannot finish is retried with fresh keys
//
//   [privacy]
//   mode = "record"                 # record (DP-SGD) | site (distributed DP) | none
//   epsilon = 3.0                   # target per site over the whole job, at delta
//   delta = 1e-5
//   noise_multiplier = 1.1          # instead of epsilon: fixed noise
//   clip_norm = 1.0
//
//   [secure_aggregation]
//   threshold = 2                   # t: neighbours of each site that must survive
//   neighbours = 0                  # k: 0 for the complete graph
//   bit_width = 32
//
// There is no default privacy mode: a job without DP must say mode = "none",
// and governance must approve that explicitly.
//
// Thread-safety: plain value type and stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/data/schema.h"
#include "agent/data/split.h"
#include "common/config.h"
#include "coordinator/strategy/strategy_config.h"

namespace tessera::coordinator {

enum class ModelKind { kLogistic, kMlp, kTorchScript };
enum class OptimizerKind { kSgd, kAdam };
enum class PrivacyMode { kRecord, kSite, kNone };

absl::string_view ModelKindName(ModelKind kind);
absl::string_view OptimizerKindName(OptimizerKind kind);
absl::string_view PrivacyModeName(PrivacyMode mode);

struct JobSpec {
  std::string name;
  std::string description;
  std::string dataset;

  ModelKind model_kind = ModelKind::kLogistic;
  std::vector<int64_t> hidden_layers;  // mlp
  std::string model_file;              // torchscript: as written in the job file

  agent::data::Schema schema;
  agent::data::SplitConfig split;

  OptimizerKind optimizer = OptimizerKind::kSgd;
  double learning_rate = 0.05;
  int64_t local_epochs = 1;
  int64_t batch_size = 32;

  strategy::StrategyConfig strategy;  // its proximal_mu is FedProx's, applied at the sites

  int64_t rounds = 10;
  int64_t min_sites = 3;
  int64_t max_sites = 10;
  absl::Duration stage_timeout = absl::Seconds(60);
  int64_t max_attempts = 3;

  PrivacyMode privacy_mode = PrivacyMode::kNone;
  std::optional<double> target_epsilon;
  double delta = 1e-5;
  std::optional<double> noise_multiplier;
  double clip_norm = 1.0;

  int64_t secagg_threshold = 2;
  int64_t secagg_neighbours = 0;  // 0: complete graph
  int64_t secagg_bit_width = 32;
};

// Reads a job from `reader` and checks every field and the rules between
// them. Returns INVALID_ARGUMENT listing every problem, each with the file,
// line and key and what to write instead; unknown keys are problems too.
absl::StatusOr<JobSpec> ParseJobSpec(ConfigReader& reader);

// Reads and parses the job file at `path`.
absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path);

// The job as canonical JSON (sorted keys, no spaces): what the coordinator
// stores and hashes, what governance approves and what every site checks.
std::string CanonicalJson(const JobSpec& spec);

}  // namespace tessera::coordinator
