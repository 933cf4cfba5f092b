#include "model/model.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::model {

struct Model::Impl {
  torch::nn::Sequential module;
  ModelSpec spec;
  int64_t features = 0;
};

namespace {

// libtorch reports errors by exception; this converts them at the one
// boundary of each call into torch.
template <typename F>
auto CatchTorch(absl::string_view what, F&& f) -> absl::StatusOr<decltype(f())> {
  try {
    return f();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(what, ": libtorch error: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

absl::StatusOr<ModelSpec> SpecOf(const torch::nn::Module& module) {
  std::vector<TensorSpec> tensors;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    TensorSpec tensor;
    tensor.name = item.key();
    for (int64_t d : item.value().sizes()) tensor.shape.push_back(d);
    tensors.push_back(std::move(tensor));
  }
  return ModelSpec::Create(std::move(tensors));
}

absl::Status CheckSizes(int64_t features, const std::vector<int64_t>& hidden, int64_t outputs) {
  if (features < 1) return absl::InvalidArgumentError("a model needs at least one input feature");
  if (outputs < 1) return absl::InvalidArgumentError("a model needs at least one output");
  for (int64_t width : hidden) {
    if (width < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("hidden layer width ", width, " is not positive"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::LogisticRegression(int64_t features,
                                                                 int64_t outputs) {
  return Mlp(features, {}, outputs);
}

absl::StatusOr<std::unique_ptr<Model>> Model::Mlp(int64_t features,
                                                  const std::vector<int64_t>& hidden,
                                                  int64_t outputs) {
  TESSERA_RETURN_IF_ERROR(CheckSizes(features, hidden, outputs));
  TESSERA_ASSIGN_OR_RETURN(torch::nn::Sequential module, CatchTorch("building the model", [&] {
    torch::nn::Sequential sequential;
    int64_t width = features;
    for (int64_t next : hidden) {
      sequential->push_back(torch::nn::Linear(width, next));
      sequential->push_back(torch::nn::ReLU());
      width = next;
    }
    sequential->push_back(torch::nn::Linear(width, outputs));
    return sequential;
  }));
  TESSERA_ASSIGN_OR_RETURN(ModelSpec spec, SpecOf(*module));
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(module), std::move(spec), features});
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const ModelSpec& Model::spec() const { return impl_->spec; }

FlatParams Model::GetParameters() const {
  FlatParams params = FlatParams::Zeros(impl_->spec);
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const auto& item : impl_->module->named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    torch::Tensor flat = item.value().detach().to(torch::kFloat32).contiguous().view({-1});
    std::memcpy(params.mutable_values().data() + offset, flat.data_ptr<float>(),
                static_cast<size_t>(flat.numel()) * sizeof(float));
    offset += flat.numel();
  }
  return params;
}

absl::Status Model::SetParameters(const FlatParams& params) {
  if (params.spec() != impl_->spec) {
    return absl::InvalidArgumentError(absl::StrCat("parameters for ", params.spec().Describe(),
                                                   " do not fit the model ",
                                                   impl_->spec.Describe()));
  }
  TESSERA_RETURN_IF_ERROR(params.CheckFinite());
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& item : impl_->module->named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    torch::Tensor& tensor = item.value();
    const int64_t count = tensor.numel();
    torch::Tensor source =
        torch::from_blob(const_cast<float*>(params.values().data() + offset), tensor.sizes(),
                         torch::TensorOptions().dtype(torch::kFloat32));
    tensor.copy_(source);
    offset += count;
  }
  return absl::OkStatus();
}

absl::StatusOr<Eigen::MatrixXf> Model::Forward(const Eigen::MatrixXf& features) const {
  if (features.cols() != impl_->features) {
    return absl::InvalidArgumentError(absl::StrCat("the model takes ", impl_->features,
                                                   " features but the batch has ",
                                                   features.cols()));
  }
  return CatchTorch("forward pass", [&] {
    torch::NoGradGuard no_grad;
    // Eigen is column-major; make a row-major copy for torch.
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = features;
    torch::Tensor input =
        torch::from_blob(rows.data(), {rows.rows(), rows.cols()}, torch::kFloat32).clone();
    torch::Tensor output = impl_->module->forward(input).contiguous();
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(output.size(0),
                                                                               output.size(1));
    std::memcpy(out.data(), output.data_ptr<float>(),
                static_cast<size_t>(output.numel()) * sizeof(float));
    return Eigen::MatrixXf(out);
  });
}

}  // namespace tessera::model
