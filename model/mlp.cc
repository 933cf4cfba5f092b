#include "model/mlp.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "privacy/random.h"
#include "model/torchscript_model.h"

namespace tessera::model {
namespace {

using ConstMatrixMap = Eigen::Map<const Eigen::MatrixXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;
using MatrixMap = Eigen::Map<Eigen::MatrixXf>;
using VectorMap = Eigen::Map<Eigen::VectorXf>;

absl::StatusOr<ModelSpec> MlpSpec(const std::vector<int64_t>& widths) {
  std::vector<TensorSpec> tensors;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    // Linear layers sit at the even indices of the equivalent nn.Sequential
    // (Linear, ReLU, Linear, ReLU, ..., Linear).
    const std::string prefix = absl::StrCat(2 * l, ".");
    tensors.push_back({prefix + "weight", {widths[l + 1], widths[l]}});
    tensors.push_back({prefix + "bias", {widths[l + 1]}});
  }
  return ModelSpec::Create(std::move(tensors));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BuiltinMlp>> BuiltinMlp::Create(std::vector<int64_t> widths,
                                                              uint64_t init_seed) {
  if (widths.size() < 2) {
    return absl::InvalidArgumentError("a built-in model needs an input and an output width");
  }
  if (widths.front() < 1) {
    return absl::InvalidArgumentError("a model needs at least one input feature");
  }
  if (widths.back() < 1) return absl::InvalidArgumentError("a model needs at least one output");
  for (size_t l = 1; l + 1 < widths.size(); ++l) {
    if (widths[l] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("hidden layer width ", widths[l], " is not positive"));
    }
  }
  TESSERA_ASSIGN_OR_RETURN(ModelSpec spec, MlpSpec(widths));
  // nn.Linear's default initialisation: kaiming_uniform_(a = sqrt(5)) for the
  // weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias, both of which
  // come to the bound 1/sqrt(fan_in).
  Eigen::VectorXf params(spec.size());
  privacy::Xoshiro256StarStar random(init_seed);
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(widths[l]));
    for (size_t t = 2 * l; t <= 2 * l + 1; ++t) {
      const int64_t begin = spec.offset(t);
      for (int64_t i = 0; i < spec.tensors()[t].NumElements(); ++i) {
        params[begin + i] = static_cast<float>(bound * (2.0 * privacy::Uniform01(random) - 1.0));
      }
    }
  }
  return std::unique_ptr<BuiltinMlp>(
      new BuiltinMlp(std::move(widths), std::move(spec), std::move(params)));
}

std::string BuiltinMlp::Describe() const {
  return absl::StrCat("built-in ", layers() == 1 ? "logistic regression " : "MLP ",
                      absl::StrJoin(widths_, "-"));
}

FlatParams BuiltinMlp::GetParameters() const {
  // The spec always matches params_, so this cannot fail.
  return FlatParams::FromValues(spec_, params_).value();
}

absl::Status BuiltinMlp::SetParameters(const FlatParams& params) {
  if (params.spec() != spec_) {
    return absl::InvalidArgumentError(absl::StrCat("parameters for ", params.spec().Describe(),
                                                   " do not fit the model ", spec_.Describe()));
  }
  TESSERA_RETURN_IF_ERROR(params.CheckFinite());
  params_ = params.values();
  return absl::OkStatus();
}

absl::Status BuiltinMlp::CheckBatch(const Eigen::VectorXf& params,
                                    const Eigen::MatrixXf& features) const {
  if (params.size() != spec_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("parameter vector has ", params.size(),
                                                   " values but ", Describe(), " has ",
                                                   spec_.size()));
  }
  if (features.cols() != widths_.front()) {
    return absl::InvalidArgumentError(absl::StrCat("the model takes ", widths_.front(),
                                                   " features but the batch has ",
                                                   features.cols()));
  }
  return absl::OkStatus();
}

void BuiltinMlp::RunForward(const float* params, const Eigen::MatrixXf& features) {
  activations_.resize(layers() - 1);
  for (size_t l = 0; l < layers(); ++l) {
    const Eigen::Index in = widths_[l];
    const Eigen::Index out = widths_[l + 1];
    ConstMatrixMap weight_t(params + spec_.offset(2 * l), in, out);
    ConstVectorMap bias(params + spec_.offset(2 * l + 1), out);
    Eigen::MatrixXf& z = l + 1 == layers() ? outputs_ : activations_[l];
    z.noalias() = LayerInput(l, features) * weight_t;
    z.rowwise() += bias.transpose();
    if (l + 1 < layers()) z = z.cwiseMax(0.0f);
  }
}

double BuiltinMlp::RunForwardBackward(const float* params, const Eigen::MatrixXf& features,
                                      const Eigen::VectorXf& targets, LossKind loss) {
  RunForward(params, features);
  deltas_.resize(layers());
  const double loss_sum = ComputeLoss(loss, outputs_, targets, &deltas_.back());
  for (size_t l = layers() - 1; l > 0; --l) {
    ConstMatrixMap weight_t(params + spec_.offset(2 * l), widths_[l], widths_[l + 1]);
    Eigen::MatrixXf& previous = deltas_[l - 1];
    previous.noalias() = deltas_[l] * weight_t.transpose();
    // ReLU'(z) is 1 where the activation is positive and 0 elsewhere
    // (PyTorch's convention at z = 0 too).
    previous = (activations_[l - 1].array() > 0.0f).select(previous, 0.0f);
  }
  return loss_sum;
}

void BuiltinMlp::GradientFromDeltas(const Eigen::MatrixXf& features, float* out) const {
  for (size_t l = 0; l < layers(); ++l) {
    // grad W^T = A^T Delta (in x out), i.e. grad W stored row-major [out, in].
    MatrixMap(out + spec_.offset(2 * l), widths_[l], widths_[l + 1]).noalias() =
        LayerInput(l, features).transpose() * deltas_[l];
    VectorMap(out + spec_.offset(2 * l + 1), widths_[l + 1]) =
        deltas_[l].colwise().sum().transpose();
  }
}

absl::StatusOr<Eigen::MatrixXf> BuiltinMlp::Forward(const Eigen::MatrixXf& features) {
  TESSERA_RETURN_IF_ERROR(CheckBatch(params_, features));
  RunForward(params_.data(), features);
  return outputs_;
}

absl::StatusOr<double> BuiltinMlp::Gradient(const Eigen::VectorXf& params,
                                            const Eigen::MatrixXf& features,
                                            const Eigen::VectorXf& targets, LossKind loss,
                                            Eigen::VectorXf* gradient) {
  TESSERA_RETURN_IF_ERROR(CheckBatch(params, features));
  const double loss_sum = RunForwardBackward(params.data(), features, targets, loss);
  gradient->resize(spec_.size());
  GradientFromDeltas(features, gradient->data());
  return loss_sum;
}

absl::StatusOr<double> BuiltinMlp::PerExampleGradients(const Eigen::VectorXf& params,
                                                       const Eigen::MatrixXf& features,
                                                       const Eigen::VectorXf& targets,
                                                       LossKind loss,
                                                       Eigen::MatrixXf* gradients) {
  TESSERA_RETURN_IF_ERROR(CheckBatch(params, features));
  const double loss_sum = RunForwardBackward(params.data(), features, targets, loss);
  gradients->resize(spec_.size(), features.rows());
  for (Eigen::Index i = 0; i < features.rows(); ++i) {
    float* column = gradients->col(i).data();
    for (size_t l = 0; l < layers(); ++l) {
      // grad W_i = delta_i a_i^T, stored row-major, i.e. (a_i delta_i^T) column-major.
      MatrixMap(column + spec_.offset(2 * l), widths_[l], widths_[l + 1]).noalias() =
          LayerInput(l, features).row(i).transpose() * deltas_[l].row(i);
      VectorMap(column + spec_.offset(2 * l + 1), widths_[l + 1]) = deltas_[l].row(i).transpose();
    }
  }
  return loss_sum;
}

absl::StatusOr<double> BuiltinMlp::ClippedGradientSum(const Eigen::VectorXf& params,
                                                      const Eigen::MatrixXf& features,
                                                      const Eigen::VectorXf& targets,
                                                      LossKind loss, double clip_norm,
                                                      Eigen::VectorXf* sum,
                                                      Eigen::VectorXf* norms) {
  if (!(clip_norm > 0.0)) return absl::InvalidArgumentError("the clip norm must be positive");
  TESSERA_RETURN_IF_ERROR(CheckBatch(params, features));
  const double loss_sum = RunForwardBackward(params.data(), features, targets, loss);
  const Eigen::Index batch = features.rows();
  // ||g_i||^2 = sum over layers of ||delta_i||^2 (||a_i||^2 + 1).
  Eigen::VectorXd squared_norms = Eigen::VectorXd::Zero(batch);
  for (size_t l = 0; l < layers(); ++l) {
    squared_norms += (deltas_[l].rowwise().squaredNorm().array() *
                      (LayerInput(l, features).rowwise().squaredNorm().array() + 1.0f))
                         .matrix()
                         .cast<double>();
  }
  Eigen::VectorXf scale(batch);
  for (Eigen::Index i = 0; i < batch; ++i) {
    const double norm = std::sqrt(squared_norms[i]);
    scale[i] = norm > clip_norm ? static_cast<float>(clip_norm / norm) : 1.0f;
  }
  if (norms != nullptr) *norms = squared_norms.cwiseSqrt().cast<float>();
  for (Eigen::MatrixXf& delta : deltas_) delta = scale.asDiagonal() * delta;
  sum->resize(spec_.size());
  GradientFromDeltas(features, sum->data());
  return loss_sum;
}

absl::StatusOr<std::string> BuiltinMlp::SerializeTorchScript() {
  return MlpToTorchScript(widths_, params_);
}

}  // namespace tessera::model
