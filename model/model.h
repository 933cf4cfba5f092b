// A trainable model as the rest of Tessera sees it: a ModelSpec, flat
// parameters, a forward pass and gradients, with libtorch hidden behind this
// interface. model/ is the only part of Tessera that includes torch headers
// (they cost ~17 s of compile per file), so nothing in this header mentions
// torch.
//
// Two kinds of model, behind the same interface:
//  - Built-in models (logistic regression, ReLU multilayer perceptron) run
//    their forward and backward passes in Eigen: at the sizes a trust trains
//    (tens of features, hidden layers of tens of units, batches of ~64) the
//    cost of a step is dominated by per-call overheads, which Eigen avoids
//    and torch's dispatcher and autograd do not (benchmarks/model/ measures
//    it). Their per-example gradients for DP-SGD are closed-form. They are
//    exported as TorchScript built from a few lines of TorchScript source,
//    with their layers named as in torch.nn.Sequential ("0.weight",
//    "0.bias", "2.weight", ...), so the exported module's state_dict also
//    loads into the equivalent nn.Sequential of Linear and ReLU layers.
//  - TorchScript modules scripted or traced in PyTorch and saved with
//    torch.jit.save, loaded from bytes or a file and run by libtorch's
//    autograd. Per-example gradients fall back to one example at a time, so
//    DP-SGD needs a forward pass that treats examples independently (no
//    batch normalisation: it fails on a batch of one, and it would mix
//    examples' gradients anyway).
//
// The canonical parameter order, shared with the coordinator through the
// ModelSpec, is the order of the module's trainable parameters (those with
// requires_grad) in named_parameters(), i.e. registration order. Buffers
// (e.g. batch-norm running statistics) are not trainable parameters: they
// stay as loaded and are exported unchanged.
//
// The gradient methods take the parameters explicitly, so the trainer's
// inner loop never copies them into the model; they leave the model's stored
// parameters (GetParameters/SetParameters, used by Forward and export)
// unchanged.
//
// Thread-safety: a Model is not thread-safe; use one per thread. TorchScript
// models also share libtorch's process-wide thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/flat_params.h"
#include "model/loss.h"

namespace tessera::model {

class Model {
 public:
  // Built-in logistic regression: one linear layer from `features` inputs to
  // `outputs` logits (1 for binary tasks). Parameters are initialised as
  // PyTorch's nn.Linear does (weights and biases uniform on
  // [-1/sqrt(fan_in), 1/sqrt(fan_in)]) from a generator seeded with
  // `init_seed`. INVALID_ARGUMENT for sizes < 1.
  static absl::StatusOr<std::unique_ptr<Model>> LogisticRegression(int64_t features,
                                                                   int64_t outputs,
                                                                   uint64_t init_seed = 0);

  // Built-in multilayer perceptron: linear layers of widths `hidden` with a
  // ReLU after each, then a linear layer to `outputs` logits. Initialised as
  // LogisticRegression. INVALID_ARGUMENT for sizes < 1.
  static absl::StatusOr<std::unique_ptr<Model>> Mlp(int64_t features,
                                                    const std::vector<int64_t>& hidden,
                                                    int64_t outputs, uint64_t init_seed = 0);

  // A TorchScript module serialised by torch.jit.save (a zip archive), whose
  // forward takes one float tensor [batch, features] and returns
  // [batch, outputs] (or [batch]). INVALID_ARGUMENT when `bytes` is not a
  // TorchScript archive, has no trainable parameter, or has a trainable
  // parameter that is not float32.
  static absl::StatusOr<std::unique_ptr<Model>> LoadTorchScript(absl::string_view bytes);
  // As LoadTorchScript, from the file at `path`; NOT_FOUND / PERMISSION_DENIED
  // when it cannot be read.
  static absl::StatusOr<std::unique_ptr<Model>> LoadTorchScriptFile(const std::string& path);

  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // One line for logs and messages: "built-in MLP 30-64-32-1" or
  // "TorchScript module __torch__.TinyNet".
  virtual std::string Describe() const = 0;
  // True for the built-in models (closed-form per-example gradients).
  virtual bool builtin() const = 0;
  // The number of input features when the model declares it (built-ins);
  // nullopt for TorchScript modules, whose forward checks its input itself.
  virtual std::optional<int64_t> inputs() const = 0;

  // The trainable parameters' names and shapes in canonical order.
  virtual const ModelSpec& spec() const = 0;
  // A copy of the stored parameters.
  virtual FlatParams GetParameters() const = 0;
  // Replaces every stored parameter. INVALID_ARGUMENT when `params` has a
  // different spec or a NaN/infinite value; the model is unchanged on error.
  virtual absl::Status SetParameters(const FlatParams& params) = 0;

  // Forward pass with the stored parameters in evaluation mode (rows of
  // `features` are examples). Returns the raw outputs, one row per example.
  // INVALID_ARGUMENT when the features do not fit the model (wrong number of
  // columns, or the TorchScript forward fails on them).
  virtual absl::StatusOr<Eigen::MatrixXf> Forward(const Eigen::MatrixXf& features) = 0;

  // The gradient of the summed `loss` over the batch (`features` rows with
  // their `targets`, already validated by ValidateTargets) with respect to
  // `params` (a vector in spec() order), in training mode. Writes it to
  // `gradient` and returns the summed loss. INVALID_ARGUMENT as Forward, or
  // when params has the wrong length.
  virtual absl::StatusOr<double> Gradient(const Eigen::VectorXf& params,
                                          const Eigen::MatrixXf& features,
                                          const Eigen::VectorXf& targets, LossKind loss,
                                          Eigen::VectorXf* gradient) = 0;

  // Each example's own gradient, as column i of `gradients`
  // (spec().size() x batch); returns the summed loss. Errors as Gradient.
  virtual absl::StatusOr<double> PerExampleGradients(const Eigen::VectorXf& params,
                                                     const Eigen::MatrixXf& features,
                                                     const Eigen::VectorXf& targets,
                                                     LossKind loss,
                                                     Eigen::MatrixXf* gradients) = 0;

  // The sum over the batch of each example's gradient clipped to L2 norm
  // `clip_norm` (g_i * min(1, C / ||g_i||), Abadi et al. 2016, Algorithm 1),
  // written to `sum`; each example's unclipped gradient norm goes to `norms`
  // when it is not null. Returns the summed loss. INVALID_ARGUMENT when
  // clip_norm is not positive, and as Gradient. This default clips the
  // columns of PerExampleGradients; built-in models override it with a
  // closed form that never materialises per-example gradients.
  virtual absl::StatusOr<double> ClippedGradientSum(const Eigen::VectorXf& params,
                                                    const Eigen::MatrixXf& features,
                                                    const Eigen::VectorXf& targets,
                                                    LossKind loss, double clip_norm,
                                                    Eigen::VectorXf* sum,
                                                    Eigen::VectorXf* norms);

  // The model with its stored parameters as a TorchScript archive (what
  // torch.jit.save writes), in evaluation mode, loadable by torch.jit.load
  // in PyTorch and by LoadTorchScript. INTERNAL if libtorch fails.
  virtual absl::StatusOr<std::string> SerializeTorchScript() = 0;
  // SerializeTorchScript() written atomically to `path` (mode 0644).
  absl::Status SaveTorchScriptFile(const std::string& path);

 protected:
  Model() = default;
};

}  // namespace tessera::model
