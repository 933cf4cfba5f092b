#include "agent/local_round.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "agent/data/encoder.h"
#include "common/status.h"
#include "model/model.h"
#include "nlohmann/json.hpp"

namespace tessera::agent {
namespace {

using coordinator::JobSpec;
using coordinator::ModelKind;
namespace strategy = coordinator::strategy;

model::LossKind LossOf(const JobSpec& spec) {
  return spec.schema.label.type == data::ColumnType::kBinary
             ? model::LossKind::kBinaryCrossEntropyWithLogits
             : model::LossKind::kMeanSquaredError;
}

absl::StatusOr<std::unique_ptr<model::Model>> BuildModel(const JobSpec& spec,
                                                         const std::string& model_bytes) {
  const auto features = static_cast<int64_t>(data::FeatureNames(spec.schema).size());
  switch (spec.model_kind) {
    case ModelKind::kLogistic:
      return model::Model::LogisticRegression(features, 1);
    case ModelKind::kMlp:
      return model::Model::Mlp(features, spec.hidden_layers, 1);
    case ModelKind::kTorchScript:
      return model::Model::LoadTorchScript(model_bytes);
  }
  return absl::InvalidArgumentError("unknown model kind");
}

}  // namespace

absl::StatusOr<data::LocalStatistics> RoundStatistics(const data::DatasetConfig& dataset,
                                                      const JobSpec& spec) {
  TESSERA_ASSIGN_OR_RETURN(auto source, data::OpenDataset(dataset));
  return data::ComputeLocalStatistics(*source, spec.schema, spec.split);
}

absl::StatusOr<data::Standardization> ParseStandardization(const JobSpec& spec,
                                                           const std::string& json) {
  data::Standardization standardization;
  const std::vector<std::string> numeric = data::NumericFeatureNames(spec.schema);
  if (json.empty()) {
    if (!numeric.empty()) {
      return absl::InvalidArgumentError(
          "the task has no standardisation although the job has numeric features");
    }
    return standardization;
  }
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InvalidArgumentError("the task's standardisation is not a JSON object");
  }
  try {
    standardization.columns = parsed.at("columns").get<std::vector<std::string>>();
    standardization.mean = parsed.at("mean").get<std::vector<double>>();
    standardization.stddev = parsed.at("stddev").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the task's standardisation is malformed: ", e.what()));
  }
  if (standardization.columns != numeric ||
      standardization.mean.size() != numeric.size() ||
      standardization.stddev.size() != numeric.size()) {
    return absl::InvalidArgumentError(
        "the task's standardisation does not match the job's numeric features");
  }
  return standardization;
}

absl::StatusOr<LocalData> LoadLocalData(const data::DatasetConfig& dataset, const JobSpec& spec,
                                        const data::Standardization& standardization) {
  TESSERA_ASSIGN_OR_RETURN(auto source, data::OpenDataset(dataset));
  TESSERA_ASSIGN_OR_RETURN(data::EncodedDataset encoded,
                           data::EncodeDataset(*source, spec.schema, spec.split, standardization));
  if (encoded.training.features.rows() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dataset `", dataset.name, "` has no usable training records for this job's schema"));
  }
  return LocalData{std::move(encoded)};
}

absl::StatusOr<TrainingRoundOutput> RunTrainingRound(const JobSpec& spec,
                                                     const strategy::AggregateLayout& layout,
                                                     const LocalData& data,
                                                     const TrainingRoundInput& input) {
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> net, BuildModel(spec, input.model_bytes));
  if (net->spec().size() != input.global.size() || layout.update_size() != input.global.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the global parameters (", input.global.size(), " values) do not fit the model ",
        net->Describe(), " (", net->spec().size(), " parameters)"));
  }
  TESSERA_ASSIGN_OR_RETURN(FlatParams global, FlatParams::FromValues(net->spec(), input.global));
  const model::LossKind loss = LossOf(spec);

  TrainingRoundOutput output;
  output.aggregate.assign(static_cast<size_t>(layout.size()), 0.0f);
  absl::Span<float> aggregate = absl::MakeSpan(output.aggregate);

  // Evaluation of the incoming global model on the hold-out split.
  const data::EncodedPart& holdout = data.encoded.holdout;
  if (holdout.features.rows() > 0) {
    model::EvalOptions eval;
    eval.loss = loss;
    if (layout.Has(strategy::kEvalHistogramPositiveBlock)) {
      TESSERA_ASSIGN_OR_RETURN(auto block, layout.Find(strategy::kEvalHistogramPositiveBlock));
      eval.histogram_bins = block.length;
    }
    TESSERA_ASSIGN_OR_RETURN(model::Evaluation evaluation,
                             model::Evaluate(*net, holdout.features, holdout.labels, global, eval));
    TESSERA_RETURN_IF_ERROR(layout.WriteSlot(aggregate, strategy::kEvalLossSumSlot,
                                             static_cast<float>(evaluation.loss_sum)));
    TESSERA_RETURN_IF_ERROR(layout.WriteSlot(aggregate, strategy::kEvalCorrectSlot,
                                             static_cast<float>(evaluation.correct)));
    TESSERA_RETURN_IF_ERROR(layout.WriteSlot(aggregate, strategy::kEvalCountSlot,
                                             static_cast<float>(evaluation.examples)));
    if (layout.Has(strategy::kEvalHistogramPositiveBlock)) {
      TESSERA_ASSIGN_OR_RETURN(auto pos,
                               layout.MutableBlock(aggregate, strategy::kEvalHistogramPositiveBlock));
      TESSERA_ASSIGN_OR_RETURN(auto neg,
                               layout.MutableBlock(aggregate, strategy::kEvalHistogramNegativeBlock));
      for (size_t i = 0; i < pos.size() && i < evaluation.positive_histogram.size(); ++i) {
        pos[i] = static_cast<float>(evaluation.positive_histogram[i]);
      }
      for (size_t i = 0; i < neg.size() && i < evaluation.negative_histogram.size(); ++i) {
        neg[i] = static_cast<float>(evaluation.negative_histogram[i]);
      }
    }
  }

  // Local training from the global model.
  model::TrainOptions options;
  options.loss = loss;
  options.optimizer.kind = spec.optimizer == coordinator::OptimizerKind::kAdam
                               ? model::OptimizerKind::kAdam
                               : model::OptimizerKind::kSgd;
  options.optimizer.learning_rate = spec.learning_rate;
  options.epochs = spec.local_epochs;
  options.batch_size = spec.batch_size;
  options.proximal_mu = spec.strategy.proximal_mu;
  options.seed = input.seed;
  if (input.dp_noise_multiplier.has_value()) {
    options.dp.enabled = true;
    options.dp.clip_norm = spec.clip_norm;
    options.dp.noise_multiplier = *input.dp_noise_multiplier;
  }
  const data::EncodedPart& training = data.encoded.training;
  TESSERA_ASSIGN_OR_RETURN(model::TrainResult trained,
                           model::Train(*net, training.features, training.labels, global, options));
  output.steps = trained.steps;
  output.dp = trained.dp;

  Eigen::VectorXf update = trained.params.values() - input.global;
  const bool weighted = spec.strategy.averaging == coordinator::strategy::Averaging::kWeighted;
  const double weight =
      static_cast<double>(std::min<int64_t>(data.training_records(), kWeightCap)) /
      static_cast<double>(kWeightCap);
  if (weighted) update *= static_cast<float>(weight);
  output.update_norm = update.norm();
  TESSERA_ASSIGN_OR_RETURN(absl::Span<float> update_block, layout.MutableUpdate(aggregate));
  std::copy(update.data(), update.data() + update.size(), update_block.begin());
  if (layout.Has(strategy::kWeightSlot)) {
    TESSERA_RETURN_IF_ERROR(
        layout.WriteSlot(aggregate, strategy::kWeightSlot, static_cast<float>(weight)));
  }
  return output;
}

}  // namespace tessera::agent
