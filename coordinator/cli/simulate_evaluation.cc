#include "coordinator/cli/simulate_evaluation.h"

#include "absl/strings/str_cat.h"
#include "agent/data/dataset.h"
#include "agent/local_round.h"
#include "common/flat_params.h"
#include "common/status.h"
#include "coordinator/job/round_plan.h"
#include "model/model.h"
#include "model/roc_auc.h"
#include "model/trainer.h"

namespace tessera::cli {
namespace {

namespace data = agent::data;
using coordinator::JobSpec;
using coordinator::ModelKind;

data::DatasetConfig DatasetOf(const SiteFile& site) {
  data::DatasetConfig config;
  config.name = "simulation";
  config.kind = data::DatasetKind::kCsv;
  config.path = site.path;
  return config;
}

// The model to evaluate: built-ins natively (fast), others from their
// TorchScript bytes.
absl::StatusOr<std::unique_ptr<model::Model>> EvaluationModel(const JobSpec& spec,
                                                              const std::string& model_bytes) {
  const auto inputs = static_cast<int64_t>(data::FeatureNames(spec.schema).size());
  switch (spec.model_kind) {
    case ModelKind::kLogistic:
      return model::Model::Mlp(inputs, {}, 1);
    case ModelKind::kMlp:
      return model::Model::Mlp(inputs, spec.hidden_layers, 1);
    case ModelKind::kTorchScript:
      return model::Model::LoadTorchScript(model_bytes);
  }
  return absl::InvalidArgumentError("unknown model kind");
}

Metrics MetricsOf(const model::Evaluation& evaluation) {
  Metrics metrics;
  metrics.examples = evaluation.examples;
  if (evaluation.examples > 0) {
    const auto n = static_cast<double>(evaluation.examples);
    metrics.loss = evaluation.loss_sum / n;
    metrics.accuracy = static_cast<double>(evaluation.correct) / n;
  }
  auto auc =
      model::RocAucFromHistograms(evaluation.negative_histogram, evaluation.positive_histogram);
  if (auc.ok()) metrics.auc = *auc;
  return metrics;
}

}  // namespace

nlohmann::json MetricsJson(const Metrics& metrics) {
  return {{"examples", metrics.examples},
          {"loss", metrics.loss},
          {"accuracy", metrics.accuracy},
          {"auc", metrics.auc.has_value() ? nlohmann::json(*metrics.auc) : nlohmann::json()}};
}

absl::StatusOr<EvaluationData> EvaluationData::Load(const JobSpec& spec,
                                                    const std::vector<SiteFile>& sites) {
  EvaluationData result;
  result.spec_ = spec;
  // The statistics round, computed on the plain sums.
  const size_t numeric = data::NumericFeatureNames(spec.schema).size();
  if (numeric > 0) {
    Eigen::VectorXd sums = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(3 * numeric));
    for (const SiteFile& site : sites) {
      TESSERA_ASSIGN_OR_RETURN(auto source, data::OpenDataset(DatasetOf(site)));
      TESSERA_ASSIGN_OR_RETURN(data::LocalStatistics statistics,
                               data::ComputeLocalStatistics(*source, spec.schema, spec.split));
      sums += statistics.sums;
    }
    TESSERA_ASSIGN_OR_RETURN(result.standardization_,
                             data::StandardizationFromSums(spec.schema, sums));
  }
  for (const SiteFile& site : sites) {
    TESSERA_ASSIGN_OR_RETURN(auto source, data::OpenDataset(DatasetOf(site)));
    TESSERA_ASSIGN_OR_RETURN(
        data::EncodedDataset encoded,
        data::EncodeDataset(*source, spec.schema, spec.split, result.standardization_));
    if (encoded.training.features.rows() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("--data ", site.path,
                       ": no record is usable for training (every one lacks a value or "
                       "has one outside the schema inferred from the first file)"));
    }
    result.sites_.push_back({site.site, std::move(encoded)});
  }
  return result;
}

int64_t EvaluationData::TrainingRecords(const std::vector<size_t>& site_indices) const {
  int64_t records = 0;
  for (size_t i : site_indices) records += sites_[i].encoded.training.features.rows();
  return records;
}

int64_t EvaluationData::HoldoutRecords(size_t site) const {
  return sites_[site].encoded.holdout.features.rows();
}

absl::StatusOr<ModelEvaluation> EvaluationData::Evaluate(const std::string& model_bytes,
                                                         const Eigen::VectorXf& parameters) const {
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> net, EvaluationModel(spec_, model_bytes));
  TESSERA_ASSIGN_OR_RETURN(FlatParams params, FlatParams::FromValues(net->spec(), parameters));
  model::EvalOptions options;
  options.loss = model::LossKind::kBinaryCrossEntropyWithLogits;
  options.histogram_bins = kEvaluationBins;
  model::Evaluation pooled;
  pooled.negative_histogram.assign(static_cast<size_t>(kEvaluationBins), 0);
  pooled.positive_histogram.assign(static_cast<size_t>(kEvaluationBins), 0);
  ModelEvaluation result;
  for (const EncodedSite& site : sites_) {
    const data::EncodedPart& holdout = site.encoded.holdout;
    if (holdout.features.rows() == 0) {
      result.sites.push_back(Metrics{});
      continue;
    }
    TESSERA_ASSIGN_OR_RETURN(
        model::Evaluation evaluation,
        model::Evaluate(*net, holdout.features, holdout.labels, params, options));
    result.sites.push_back(MetricsOf(evaluation));
    pooled.loss_sum += evaluation.loss_sum;
    pooled.correct += evaluation.correct;
    pooled.examples += evaluation.examples;
    for (size_t b = 0; b < pooled.negative_histogram.size(); ++b) {
      pooled.negative_histogram[b] += evaluation.negative_histogram[b];
      pooled.positive_histogram[b] += evaluation.positive_histogram[b];
    }
  }
  result.pooled = MetricsOf(pooled);
  return result;
}

absl::StatusOr<Eigen::VectorXf> EvaluationData::TrainBaseline(
    const std::string& model_bytes, const Eigen::VectorXf& initial,
    const std::vector<size_t>& site_indices, std::optional<double> dp_noise_multiplier,
    uint64_t seed) const {
  // The training records of the chosen sites, as one site's data (no
  // hold-out part: RunTrainingRound then skips its evaluation).
  agent::LocalData local;
  const int64_t rows = TrainingRecords(site_indices);
  const Eigen::Index columns = sites_.front().encoded.training.features.cols();
  local.encoded.feature_names = sites_.front().encoded.feature_names;
  local.encoded.training.features.resize(rows, columns);
  local.encoded.training.labels.resize(rows);
  local.encoded.holdout.features.resize(0, columns);
  local.encoded.holdout.labels.resize(0);
  Eigen::Index at = 0;
  for (size_t i : site_indices) {
    const data::EncodedPart& part = sites_[i].encoded.training;
    local.encoded.training.features.middleRows(at, part.features.rows()) = part.features;
    local.encoded.training.labels.segment(at, part.labels.size()) = part.labels;
    at += part.features.rows();
  }

  TESSERA_ASSIGN_OR_RETURN(coordinator::strategy::AggregateLayout layout,
                           coordinator::TrainingLayout(spec_, initial.size()));
  Eigen::VectorXf global = initial;
  for (int64_t round = 1; round <= spec_.rounds; ++round) {
    agent::TrainingRoundInput input;
    input.model_bytes = model_bytes;
    input.global = global;
    input.dp_noise_multiplier = dp_noise_multiplier;
    input.seed = seed + static_cast<uint64_t>(round);
    TESSERA_ASSIGN_OR_RETURN(agent::TrainingRoundOutput output,
                             agent::RunTrainingRound(spec_, layout, local, input));
    const absl::Span<const float> aggregate = absl::MakeConstSpan(output.aggregate);
    TESSERA_ASSIGN_OR_RETURN(absl::Span<const float> update, layout.ReadUpdate(aggregate));
    // FedAvg over one site: its update, un-weighted (weighted averaging
    // divides the weighted sum by the same weight).
    float weight = 1;
    if (spec_.strategy.averaging == coordinator::strategy::Averaging::kWeighted &&
        layout.Has(coordinator::strategy::kWeightSlot)) {
      TESSERA_ASSIGN_OR_RETURN(weight,
                               layout.ReadSlot(aggregate, coordinator::strategy::kWeightSlot));
    }
    for (Eigen::Index i = 0; i < global.size(); ++i) {
      global[i] += update[static_cast<size_t>(i)] / weight;
    }
  }
  return global;
}

}  // namespace tessera::cli
