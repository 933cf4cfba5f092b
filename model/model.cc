#include "model/model.h"

#include <cmath>

#include "common/files.h"
#include "common/status.h"
#include "model/mlp.h"
#include "model/torchscript_model.h"

namespace tessera::model {

absl::StatusOr<std::unique_ptr<Model>> Model::LogisticRegression(int64_t features,
                                                                 int64_t outputs,
                                                                 uint64_t init_seed) {
  return Mlp(features, {}, outputs, init_seed);
}

absl::StatusOr<std::unique_ptr<Model>> Model::Mlp(int64_t features,
                                                  const std::vector<int64_t>& hidden,
                                                  int64_t outputs, uint64_t init_seed) {
  std::vector<int64_t> widths;
  widths.push_back(features);
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(outputs);
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<BuiltinMlp> model,
                           BuiltinMlp::Create(std::move(widths), init_seed));
  return std::unique_ptr<Model>(std::move(model));
}

absl::StatusOr<std::unique_ptr<Model>> Model::LoadTorchScript(absl::string_view bytes) {
  return LoadTorchScriptModel(bytes);
}

absl::StatusOr<std::unique_ptr<Model>> Model::LoadTorchScriptFile(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, "TorchScript model"));
  absl::StatusOr<std::unique_ptr<Model>> model = LoadTorchScriptModel(bytes);
  if (!model.ok()) return Annotate(model.status(), path);
  return model;
}

absl::StatusOr<double> Model::ClippedGradientSum(const Eigen::VectorXf& params,
                                                 const Eigen::MatrixXf& features,
                                                 const Eigen::VectorXf& targets, LossKind loss,
                                                 double clip_norm, Eigen::VectorXf* sum,
                                                 Eigen::VectorXf* norms) {
  if (!(clip_norm > 0.0)) return absl::InvalidArgumentError("the clip norm must be positive");
  Eigen::MatrixXf gradients;
  TESSERA_ASSIGN_OR_RETURN(double loss_sum,
                           PerExampleGradients(params, features, targets, loss, &gradients));
  sum->setZero(spec().size());
  if (norms != nullptr) norms->resize(gradients.cols());
  for (Eigen::Index i = 0; i < gradients.cols(); ++i) {
    const double norm = gradients.col(i).cast<double>().norm();
    const double scale = norm > clip_norm ? clip_norm / norm : 1.0;
    *sum += static_cast<float>(scale) * gradients.col(i);
    if (norms != nullptr) (*norms)[i] = static_cast<float>(norm);
  }
  return loss_sum;
}

absl::Status Model::SaveTorchScriptFile(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, SerializeTorchScript());
  return WriteFileAtomically(path, bytes, 0644);
}

}  // namespace tessera::model
