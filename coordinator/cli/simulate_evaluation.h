// How `tessera simulate` measures models, and the baselines of --compare.
//
// A simulation holds every site's file, so it can do what the federation
// itself never may: evaluate any model on every site's hold-out records,
// and train on the pooled records. All of it uses the job's own rules:
//  - each site's records are split into training and hold-out parts by the
//    job's [split] (agent/data/split.h), exactly as its agent splits them;
//  - numeric features are standardised with the means and standard
//    deviations of all sites' training records together — what the
//    federation's statistics round computes (agent/data/statistics.h; the
//    federation's copy went through secure aggregation in fixed point, so
//    it may differ in the last bits). The exported model does not carry
//    them, so every model here — federated, centralised and local — is
//    evaluated on the same inputs standardised this one way, and the
//    baselines are trained on them too;
//  - the baselines train with agent::RunTrainingRound, the code every site
//    runs in a round (same model, initial parameters, optimiser, learning
//    rate, batch size), once per round for `rounds` rounds of
//    `local_epochs` epochs, adding each round's update to the parameters as
//    FedAvg does for a single site.
//
// Metrics are those the coordinator computes (mean binary cross-entropy,
// accuracy at logit 0, ROC AUC from score histograms) but with
// kEvaluationBins bins, so the AUC is that of the unbinned scores unless a
// positive and a negative score fall within 1e-5 of each other.
//
// Thread-safety: an EvaluationData is immutable after Load; Evaluate and
// TrainBaseline build their own models, but libtorch's process-wide state
// means one call at a time (model/trainer.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "agent/data/encoder.h"
#include "agent/data/statistics.h"
#include "coordinator/cli/simulate_data.h"
#include "coordinator/job/job_spec.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {

inline constexpr int64_t kEvaluationBins = 100000;

struct Metrics {
  int64_t examples = 0;
  double loss = 0;  // mean binary cross-entropy
  double accuracy = 0;
  std::optional<double> auc;  // absent when the records hold one class only
};

// {"examples", "loss", "accuracy", "auc"} ("auc" null when absent).
nlohmann::json MetricsJson(const Metrics& metrics);

// A model's metrics on the pooled hold-out records of all sites and on each
// site's own (in site order).
struct ModelEvaluation {
  Metrics pooled;
  std::vector<Metrics> sites;
};

struct EncodedSite {
  std::string site;
  agent::data::EncodedDataset encoded;
};

class EvaluationData {
 public:
  // Reads, checks and encodes every site's file for `spec` (see above).
  // Errors: those of reading the files; FAILED_PRECONDITION naming the file
  // when a site has no usable training record for the job's schema.
  static absl::StatusOr<EvaluationData> Load(const coordinator::JobSpec& spec,
                                             const std::vector<SiteFile>& sites);

  // Evaluates the model in `model_bytes` (the job's TorchScript model; the
  // built-in models are rebuilt natively) with `parameters`.
  // INVALID_ARGUMENT when the parameters do not fit the model.
  absl::StatusOr<ModelEvaluation> Evaluate(const std::string& model_bytes,
                                           const Eigen::VectorXf& parameters) const;

  // A baseline: trains from `initial` on the training records of the sites
  // in `site_indices` together, as described above. With
  // `dp_noise_multiplier` it runs DP-SGD at that noise (clip norm from the
  // job). Errors: the trainer's.
  absl::StatusOr<Eigen::VectorXf> TrainBaseline(const std::string& model_bytes,
                                                const Eigen::VectorXf& initial,
                                                const std::vector<size_t>& site_indices,
                                                std::optional<double> dp_noise_multiplier,
                                                uint64_t seed) const;

  // Training and hold-out records of the sites in `site_indices`.
  int64_t TrainingRecords(const std::vector<size_t>& site_indices) const;
  int64_t HoldoutRecords(size_t site) const;

  const std::vector<EncodedSite>& sites() const { return sites_; }
  const agent::data::Standardization& standardization() const { return standardization_; }
  const coordinator::JobSpec& spec() const { return spec_; }

 private:
  EvaluationData() = default;
  coordinator::JobSpec spec_;
  agent::data::Standardization standardization_;
  std::vector<EncodedSite> sites_;
};

}  // namespace tessera::cli
