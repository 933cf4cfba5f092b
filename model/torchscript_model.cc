// The one translation unit of Tessera that includes torch headers.
#include "model/torchscript_model.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/script.h>

#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::model {
namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// libtorch reports errors by exception; this is the one boundary where they
// become a Status. Errors from TorchScript code (a module that rejects its
// input, a script that does not compile) carry `code`.
template <typename F>
auto CatchTorch(absl::StatusCode code, absl::string_view what, F&& f)
    -> absl::StatusOr<decltype(f())> {
  try {
    return f();
  } catch (const c10::Error& e) {
    return absl::Status(code, absl::StrCat(what, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::Status(code, absl::StrCat(what, ": ", e.what()));
  }
}

// A float tensor [rows, cols] holding a copy of `matrix` (Eigen stores it
// column-major, torch wants row-major).
at::Tensor ToTensor(const Eigen::MatrixXf& matrix) {
  return torch::from_blob(const_cast<float*>(matrix.data()), {matrix.cols(), matrix.rows()},
                          torch::kFloat32)
      .t()
      .contiguous();
}

// The model's output as a matrix with one row per example; the output must
// be a float tensor [batch, outputs] or [batch].
absl::StatusOr<Eigen::MatrixXf> ToMatrix(const at::Tensor& output, int64_t batch) {
  if (output.scalar_type() != torch::kFloat32 || output.dim() < 1 || output.dim() > 2 ||
      output.size(0) != batch) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TorchScript module's forward must return a float32 tensor of shape "
                     "[batch, outputs] or [batch]; for a batch of ",
                     batch, " it returned ", c10::toString(output.scalar_type()), " ",
                     c10::str(output.sizes())));
  }
  const int64_t columns = output.dim() == 2 ? output.size(1) : 1;
  at::Tensor contiguous = output.detach().contiguous();
  Eigen::MatrixXf result =
      Eigen::Map<const RowMajorMatrix>(contiguous.data_ptr<float>(), batch, columns);
  return result;
}

class TorchScriptModel final : public Model {
 public:
  TorchScriptModel(torch::jit::Module module, std::vector<at::Tensor> params, ModelSpec spec,
                   Eigen::VectorXf stored)
      : module_(std::move(module)),
        params_(std::move(params)),
        spec_(std::move(spec)),
        stored_(std::move(stored)) {}

  std::string Describe() const override {
    return absl::StrCat("TorchScript module ", module_.type()->name()->qualifiedName());
  }
  bool builtin() const override { return false; }
  std::optional<int64_t> inputs() const override { return std::nullopt; }
  const ModelSpec& spec() const override { return spec_; }

  FlatParams GetParameters() const override {
    return FlatParams::FromValues(spec_, stored_).value();  // sizes always agree
  }

  absl::Status SetParameters(const FlatParams& params) override {
    if (params.spec() != spec_) {
      return absl::InvalidArgumentError(absl::StrCat("parameters for ", params.spec().Describe(),
                                                     " do not fit the model ",
                                                     spec_.Describe()));
    }
    TESSERA_RETURN_IF_ERROR(params.CheckFinite());
    stored_ = params.values();
    module_holds_stored_ = false;
    return absl::OkStatus();
  }

  absl::StatusOr<Eigen::MatrixXf> Forward(const Eigen::MatrixXf& features) override {
    LoadStored();
    module_.eval();
    TESSERA_ASSIGN_OR_RETURN(at::Tensor output, RunForward(features, /*with_grad=*/false));
    return ToMatrix(output, features.rows());
  }

  absl::StatusOr<double> Gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& features,
                                  const Eigen::VectorXf& targets, LossKind loss,
                                  Eigen::VectorXf* gradient) override {
    TESSERA_RETURN_IF_ERROR(Load(params));
    module_.train();
    gradient->resize(spec_.size());
    return BatchGradient(features, targets, loss, gradient->data());
  }

  // The general fallback: one forward and backward pass per example.
  absl::StatusOr<double> PerExampleGradients(const Eigen::VectorXf& params,
                                             const Eigen::MatrixXf& features,
                                             const Eigen::VectorXf& targets, LossKind loss,
                                             Eigen::MatrixXf* gradients) override {
    TESSERA_RETURN_IF_ERROR(Load(params));
    module_.train();
    gradients->resize(spec_.size(), features.rows());
    double loss_sum = 0.0;
    Eigen::MatrixXf example;
    for (Eigen::Index i = 0; i < features.rows(); ++i) {
      example = features.row(i);
      TESSERA_ASSIGN_OR_RETURN(double loss_i, BatchGradient(example, targets.segment(i, 1), loss,
                                                            gradients->col(i).data()));
      loss_sum += loss_i;
    }
    return loss_sum;
  }

  absl::StatusOr<std::string> SerializeTorchScript() override {
    LoadStored();
    module_.eval();
    return CatchTorch(absl::StatusCode::kInternal, "saving the TorchScript module", [&] {
      std::ostringstream out;
      module_.save(out);
      return out.str();
    });
  }

 private:
  // Copies `params` into the module's parameter tensors.
  absl::Status Load(const Eigen::VectorXf& params) {
    if (params.size() != spec_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter vector has ", params.size(),
                                                     " values but ", Describe(), " has ",
                                                     spec_.size()));
    }
    torch::NoGradGuard no_grad;
    for (size_t t = 0; t < params_.size(); ++t) {
      std::memcpy(params_[t].data_ptr<float>(), params.data() + spec_.offset(t),
                  static_cast<size_t>(params_[t].numel()) * sizeof(float));
    }
    module_holds_stored_ = false;
    return absl::OkStatus();
  }

  void LoadStored() {
    if (module_holds_stored_) return;
    Load(stored_).IgnoreError();  // stored_ always has the right size
    module_holds_stored_ = true;
  }

  absl::StatusOr<at::Tensor> RunForward(const Eigen::MatrixXf& features, bool with_grad) {
    return CatchTorch(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("the TorchScript module's forward failed on a batch of ", features.rows(),
                     " x ", features.cols()),
        [&] {
          torch::AutoGradMode grad_mode(with_grad);
          return module_.forward({ToTensor(features)}).toTensor();
        });
  }

  // Forward and backward pass over `features`; writes the gradient of the
  // summed loss to `out` (spec_.size() floats) and returns the summed loss.
  absl::StatusOr<double> BatchGradient(const Eigen::MatrixXf& features,
                                       const Eigen::Ref<const Eigen::VectorXf>& targets,
                                       LossKind loss, float* out) {
    TESSERA_ASSIGN_OR_RETURN(at::Tensor output, RunForward(features, /*with_grad=*/true));
    TESSERA_ASSIGN_OR_RETURN(Eigen::MatrixXf outputs, ToMatrix(output, features.rows()));
    Eigen::MatrixXf d_outputs;
    const double loss_sum = ComputeLoss(loss, outputs, targets, &d_outputs);
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<at::Tensor> grads,
        CatchTorch(absl::StatusCode::kInvalidArgument,
                   "back-propagating through the TorchScript module", [&] {
                     at::Tensor d_output = ToTensor(d_outputs).view(output.sizes());
                     return torch::autograd::grad({output}, params_, {d_output},
                                                  /*retain_graph=*/false,
                                                  /*create_graph=*/false,
                                                  /*allow_unused=*/true);
                   }));
    for (size_t t = 0; t < params_.size(); ++t) {
      float* target = out + spec_.offset(t);
      const auto count = static_cast<size_t>(params_[t].numel());
      if (!grads[t].defined()) {  // the output does not depend on this parameter
        std::memset(target, 0, count * sizeof(float));
        continue;
      }
      at::Tensor grad = grads[t].contiguous();
      std::memcpy(target, grad.data_ptr<float>(), count * sizeof(float));
    }
    return loss_sum;
  }

  torch::jit::Module module_;
  std::vector<at::Tensor> params_;  // the trainable parameters, in spec_ order
  ModelSpec spec_;
  Eigen::VectorXf stored_;            // the parameters Forward and export use
  bool module_holds_stored_ = true;  // params_ hold stored_
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> LoadTorchScriptModel(absl::string_view bytes) {
  TESSERA_ASSIGN_OR_RETURN(
      torch::jit::Module module,
      CatchTorch(absl::StatusCode::kInvalidArgument,
                 "the model is not a TorchScript archive that libtorch 1.13 can load", [&] {
                   std::istringstream in{std::string(bytes)};
                   return torch::jit::load(in, torch::kCPU);
                 }));
  std::vector<at::Tensor> params;
  std::vector<TensorSpec> tensors;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value.requires_grad()) continue;
    if (item.value.scalar_type() != torch::kFloat32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter `", item.name, "` of the TorchScript module is ",
          c10::toString(item.value.scalar_type()),
          "; Tessera trains float32 parameters (call .float() on the module before saving)"));
    }
    if (!item.value.is_contiguous()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter `", item.name,
                       "` of the TorchScript module is a non-contiguous view; make it a "
                       "contiguous tensor before saving"));
    }
    TensorSpec tensor{item.name, {}};
    for (int64_t d : item.value.sizes()) tensor.shape.push_back(d);
    tensors.push_back(std::move(tensor));
    params.push_back(item.value);
  }
  if (tensors.empty()) {
    return absl::InvalidArgumentError(
        "the TorchScript module has no trainable parameter (none with requires_grad)");
  }
  TESSERA_ASSIGN_OR_RETURN(ModelSpec spec, ModelSpec::Create(std::move(tensors)));
  Eigen::VectorXf stored(spec.size());
  for (size_t t = 0; t < params.size(); ++t) {
    std::memcpy(stored.data() + spec.offset(t), params[t].data_ptr<float>(),
                static_cast<size_t>(params[t].numel()) * sizeof(float));
  }
  TESSERA_RETURN_IF_ERROR(FlatParams::FromValues(spec, stored)->CheckFinite());
  return std::unique_ptr<Model>(
      new TorchScriptModel(std::move(module), std::move(params), std::move(spec), stored));
}

absl::StatusOr<std::string> MlpToTorchScript(const std::vector<int64_t>& widths,
                                             const Eigen::VectorXf& params) {
  return CatchTorch(absl::StatusCode::kInternal, "building the TorchScript module", [&] {
    auto unit = std::make_shared<torch::jit::CompilationUnit>();
    torch::jit::Module top(c10::QualifiedName("__torch__.tessera.Mlp"), unit);
    c10::ClassTypePtr linear_type;
    std::string source = "def forward(self, x: Tensor) -> Tensor:\n";
    int64_t offset = 0;
    for (size_t l = 0; l + 1 < widths.size(); ++l) {
      // One class serves every layer: tensor attributes carry no shape.
      torch::jit::Module linear =
          linear_type ? torch::jit::Module(unit, linear_type)
                      : torch::jit::Module(c10::QualifiedName("__torch__.tessera.Linear"), unit);
      for (const auto& [name, shape] :
           {std::pair<const char*, std::vector<int64_t>>{"weight", {widths[l + 1], widths[l]}},
            std::pair<const char*, std::vector<int64_t>>{"bias", {widths[l + 1]}}}) {
        at::Tensor value =
            torch::from_blob(const_cast<float*>(params.data() + offset), shape, torch::kFloat32)
                .clone()
                .requires_grad_(true);
        offset += value.numel();
        linear.register_parameter(name, value, /*is_buffer=*/false);
      }
      if (!linear_type) {
        linear.define(
            "def forward(self, x: Tensor) -> Tensor:\n"
            "    return torch.linear(x, self.weight, self.bias)\n");
        linear_type = linear.type();
      }
      const std::string layer = std::to_string(2 * l);
      top.register_module(layer, linear);
      const std::string call = absl::StrCat("getattr(self, \"", layer, "\").forward(x)");
      absl::StrAppend(&source, "    ",
                      l + 2 < widths.size() ? absl::StrCat("x = torch.relu(", call, ")\n")
                                            : absl::StrCat("return ", call, "\n"));
    }
    top.define(source);
    top.eval();
    std::ostringstream out;
    top.save(out);
    return out.str();
  });
}

void SetTorchThreads(int threads) { at::set_num_threads(threads); }

void SeedTorch(uint64_t seed) { at::manual_seed(seed); }

}  // namespace tessera::model
