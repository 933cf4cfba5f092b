#include "model/trainer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "model/random.h"
#include "model/roc_auc.h"
#include "model/torchscript_model.h"
#include "privacy/random.h"
#include "privacy/samplers.h"

namespace tessera::model {
namespace {

// Checks the data against the model and the loss. Finds the number of
// outputs with a forward pass on the first example (TorchScript modules do
// not declare it).
absl::Status CheckData(Model& model, const Eigen::MatrixXf& features,
                       const Eigen::VectorXf& targets, LossKind loss) {
  if (features.rows() == 0) return absl::InvalidArgumentError("there are no examples");
  if (targets.size() != features.rows()) {
    return absl::InvalidArgumentError(absl::StrCat("there are ", features.rows(),
                                                   " examples but ", targets.size(), " targets"));
  }
  if (model.inputs().has_value() && *model.inputs() != features.cols()) {
    return absl::InvalidArgumentError(absl::StrCat(model.Describe(), " takes ", *model.inputs(),
                                                   " features but the data have ",
                                                   features.cols()));
  }
  if (!features.allFinite()) {
    return absl::InvalidArgumentError("the features hold a NaN or infinite value");
  }
  TESSERA_ASSIGN_OR_RETURN(Eigen::MatrixXf probe, model.Forward(features.topRows(1)));
  return ValidateTargets(loss, probe.cols(), targets);
}

absl::Status CheckParams(const Model& model, const FlatParams& params) {
  if (params.spec() != model.spec()) {
    return absl::InvalidArgumentError(absl::StrCat("parameters for ", params.spec().Describe(),
                                                   " do not fit ", model.Describe(), " (",
                                                   model.spec().Describe(), ")"));
  }
  return params.CheckFinite();
}

absl::Status CheckTrainOptions(const TrainOptions& options) {
  if (options.epochs < 1) return absl::InvalidArgumentError("epochs must be at least 1");
  if (options.batch_size < 1) return absl::InvalidArgumentError("batch size must be at least 1");
  if (options.threads < 1) return absl::InvalidArgumentError("threads must be at least 1");
  if (!(options.proximal_mu >= 0.0) || !std::isfinite(options.proximal_mu)) {
    return absl::InvalidArgumentError("the FedProx mu must be a finite number >= 0");
  }
  if (options.dp.enabled) {
    if (!(options.dp.clip_norm > 0.0) || !std::isfinite(options.dp.clip_norm)) {
      return absl::InvalidArgumentError("the DP-SGD clip norm must be a positive number");
    }
    if (!(options.dp.noise_multiplier >= 0.0) || !std::isfinite(options.dp.noise_multiplier)) {
      return absl::InvalidArgumentError("the DP-SGD noise multiplier must be a number >= 0");
    }
  }
  return absl::OkStatus();
}

// Copies the rows `indices` of the data into (x, y).
void Gather(const Eigen::MatrixXf& features, const Eigen::VectorXf& targets,
            const int64_t* indices, Eigen::Index count, Eigen::MatrixXf* x, Eigen::VectorXf* y) {
  x->resize(count, features.cols());
  y->resize(count);
  for (Eigen::Index c = 0; c < features.cols(); ++c) {
    const float* source = features.col(c).data();
    float* destination = x->col(c).data();
    for (Eigen::Index i = 0; i < count; ++i) destination[i] = source[indices[i]];
  }
  for (Eigen::Index i = 0; i < count; ++i) (*y)[i] = targets[indices[i]];
}

// The state one training run threads through its steps.
class Run {
 public:
  Run(Model& model, const FlatParams& start, const TrainOptions& options,
      std::unique_ptr<Optimizer> optimizer)
      : model_(model),
        options_(options),
        global_(start.values()),
        params_(start.values()),
        optimizer_(std::move(optimizer)) {}

  // One non-private step on (x, y): the mean loss's gradient.
  absl::Status PlainStep(const Eigen::MatrixXf& x, const Eigen::VectorXf& y) {
    TESSERA_ASSIGN_OR_RETURN(double loss_sum,
                             model_.Gradient(params_, x, y, options_.loss, &gradient_));
    gradient_ /= static_cast<float>(x.rows());
    Finish(loss_sum, x.rows());
    return absl::OkStatus();
  }

  // One DP-SGD step on the lot (x, y) drawn with rate q from n records.
  absl::Status PrivateStep(const Eigen::MatrixXf& x, const Eigen::VectorXf& y, double q,
                           int64_t n, privacy::RandomSource& random) {
    const DpSgdOptions& dp = options_.dp;
    TESSERA_ASSIGN_OR_RETURN(double loss_sum,
                             model_.ClippedGradientSum(params_, x, y, options_.loss, dp.clip_norm,
                                                       &gradient_, nullptr));
    // Abadi et al. 2016, Algorithm 1: g~ = (sum_i clip(g_i) + N(0, sigma^2 C^2 I)) / L,
    // with L the expected lot size qN under Poisson sampling.
    AddGaussianNoise(dp.noise_multiplier * dp.clip_norm, random,
                     absl::MakeSpan(gradient_.data(), static_cast<size_t>(gradient_.size())));
    gradient_ /= static_cast<float>(q * static_cast<double>(n));
    Finish(loss_sum, x.rows());
    return absl::OkStatus();
  }

  absl::StatusOr<TrainResult> Result() {
    if (!params_.allFinite()) {
      return absl::InvalidArgumentError(
          absl::StrCat("training diverged (a parameter became NaN or infinite) after ", steps_,
                       " steps; lower the learning rate"));
    }
    TESSERA_ASSIGN_OR_RETURN(FlatParams params, FlatParams::FromValues(model_.spec(), params_));
    TESSERA_RETURN_IF_ERROR(model_.SetParameters(params));
    TrainResult result{std::move(params), examples_, steps_, 0.0, std::nullopt};
    if (examples_ > 0) result.mean_loss = loss_sum_ / static_cast<double>(examples_);
    return result;
  }

 private:
  // Adds FedProx's proximal gradient mu (w - w_global) and takes the step.
  void Finish(double loss_sum, Eigen::Index examples) {
    if (options_.proximal_mu > 0.0) {
      gradient_ += static_cast<float>(options_.proximal_mu) * (params_ - global_);
    }
    optimizer_->Step(gradient_, &params_);
    loss_sum_ += loss_sum;
    examples_ += examples;
    ++steps_;
  }

  Model& model_;
  const TrainOptions& options_;
  const Eigen::VectorXf& global_;
  Eigen::VectorXf params_;
  std::unique_ptr<Optimizer> optimizer_;
  Eigen::VectorXf gradient_;
  double loss_sum_ = 0.0;
  int64_t examples_ = 0;
  int64_t steps_ = 0;
};

}  // namespace

absl::StatusOr<TrainResult> Train(Model& model, const Eigen::MatrixXf& features,
                                  const Eigen::VectorXf& targets, const FlatParams& start,
                                  const TrainOptions& options) {
  TESSERA_RETURN_IF_ERROR(CheckTrainOptions(options));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                           Optimizer::Create(options.optimizer, model.spec().size()));
  TESSERA_RETURN_IF_ERROR(CheckParams(model, start));
  SetTorchThreads(options.threads);
  TESSERA_RETURN_IF_ERROR(CheckData(model, features, targets, options.loss));
  if (!model.builtin()) SeedTorch(options.seed);

  const int64_t n = features.rows();
  const int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  Run run(model, start, options, std::move(optimizer));
  Eigen::MatrixXf x;
  Eigen::VectorXf y;
  std::vector<int64_t> indices;

  if (!options.dp.enabled) {
    privacy::Xoshiro256StarStar random(options.seed);
    for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
      RandomPermutation(n, random, &indices);
      for (int64_t begin = 0; begin < n; begin += options.batch_size) {
        const int64_t count = std::min(options.batch_size, n - begin);
        Gather(features, targets, indices.data() + begin, count, &x, &y);
        TESSERA_RETURN_IF_ERROR(run.PlainStep(x, y));
      }
    }
    return run.Result();
  }

  std::unique_ptr<privacy::RandomSource> random;
  if (options.dp.insecure_test_seed.has_value()) {
    random = std::make_unique<privacy::Xoshiro256StarStar>(*options.dp.insecure_test_seed);
  } else {
    TESSERA_ASSIGN_OR_RETURN(random, CsprngSource::Create());
  }
  const double q = std::min(
      1.0, static_cast<double>(options.batch_size) / static_cast<double>(n));
  const int64_t steps = options.epochs * steps_per_epoch;
  for (int64_t step = 0; step < steps; ++step) {
    TESSERA_ASSIGN_OR_RETURN(indices, privacy::PoissonSubsample(n, q, *random));
    Gather(features, targets, indices.data(), static_cast<Eigen::Index>(indices.size()), &x, &y);
    TESSERA_RETURN_IF_ERROR(run.PrivateStep(x, y, q, n, *random));
  }
  TESSERA_ASSIGN_OR_RETURN(TrainResult result, run.Result());
  result.dp = DpSgdReport{q, options.dp.noise_multiplier, options.dp.clip_norm, steps, n};
  return result;
}

absl::StatusOr<Evaluation> Evaluate(Model& model, const Eigen::MatrixXf& features,
                                    const Eigen::VectorXf& targets, const FlatParams& params,
                                    const EvalOptions& options) {
  if (options.histogram_bins < 1 || options.batch_size < 1 || options.threads < 1) {
    return absl::InvalidArgumentError(
        "histogram bins, batch size and threads must each be at least 1");
  }
  TESSERA_RETURN_IF_ERROR(CheckParams(model, params));
  TESSERA_RETURN_IF_ERROR(model.SetParameters(params));
  SetTorchThreads(options.threads);
  TESSERA_RETURN_IF_ERROR(CheckData(model, features, targets, options.loss));
  const bool binary = options.loss == LossKind::kBinaryCrossEntropyWithLogits;
  if (binary) {
    for (Eigen::Index i = 0; i < targets.size(); ++i) {
      if (targets[i] != 0.0f && targets[i] != 1.0f) {
        return absl::InvalidArgumentError(
            absl::StrCat("target of example ", i, " is not a 0/1 label"));
      }
    }
  }

  Evaluation result;
  result.examples = features.rows();
  if (binary) {
    result.negative_histogram.assign(static_cast<size_t>(options.histogram_bins), 0);
    result.positive_histogram.assign(static_cast<size_t>(options.histogram_bins), 0);
  }
  for (Eigen::Index begin = 0; begin < features.rows(); begin += options.batch_size) {
    const Eigen::Index count = std::min<Eigen::Index>(options.batch_size, features.rows() - begin);
    TESSERA_ASSIGN_OR_RETURN(Eigen::MatrixXf outputs,
                             model.Forward(features.middleRows(begin, count)));
    const auto batch_targets = targets.segment(begin, count);
    result.loss_sum += ComputeLoss(options.loss, outputs, batch_targets, nullptr);
    for (Eigen::Index i = 0; i < count; ++i) {
      if (binary) {
        const bool positive = batch_targets[i] == 1.0f;
        const double logit = outputs(i, 0);
        result.correct += (logit > 0.0) == positive ? 1 : 0;
        const double probability = 1.0 / (1.0 + std::exp(-logit));
        auto& histogram = positive ? result.positive_histogram : result.negative_histogram;
        ++histogram[static_cast<size_t>(ScoreBin(probability, options.histogram_bins))];
      } else if (options.loss == LossKind::kCrossEntropy) {
        Eigen::Index predicted = 0;
        outputs.row(i).maxCoeff(&predicted);
        result.correct += predicted == static_cast<Eigen::Index>(batch_targets[i]) ? 1 : 0;
      }
    }
  }
  return result;
}

}  // namespace tessera::model
