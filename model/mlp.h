// The built-in models: a stack of linear layers with a ReLU after each but
// the last (logistic regression is the stack of one layer), computed with
// Eigen. Used through model/model.h; this header is for model/ and its tests.
//
// Layout: layer l maps widths[l] inputs to widths[l+1] outputs; its weight
// is stored row-major [out, in] as PyTorch's nn.Linear stores it, followed by
// its bias [out], and layers follow each other in order. Mapped
// column-major, a row-major [out, in] block is W^T (in x out), so the
// forward pass Z = A W^T + 1 b^T is one plain matrix product per layer.
//
// Per-example gradients (Goodfellow 2015, "Efficient per-example gradient
// computations", arXiv:1510.01799): for example i with layer input a_i and
// output gradient delta_i = dL_i/dz_i, the weight gradient is the outer
// product delta_i a_i^T and the bias gradient delta_i. Its squared norm is
// therefore ||delta_i||^2 (||a_i||^2 + 1) per layer, so the clipped sum
// sum_i c_i g_i of DP-SGD needs no per-example gradient at all: scale the
// rows of every layer's delta matrix by c_i = min(1, C / ||g_i||) and take the
// ordinary batch product A^T (c .* Delta) (the "ghost clipping" of Lee &
// Kifer 2021, arXiv:2009.03106, §3). It costs about as much as a
// non-private step.
//
// Thread-safety: not thread-safe (the model keeps per-batch workspaces).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "common/flat_params.h"
#include "model/model.h"

namespace tessera::model {

class BuiltinMlp final : public Model {
 public:
  // `widths` = {features, hidden..., outputs}; INVALID_ARGUMENT when it has
  // fewer than two entries or one is < 1.
  static absl::StatusOr<std::unique_ptr<BuiltinMlp>> Create(std::vector<int64_t> widths,
                                                            uint64_t init_seed);

  std::string Describe() const override;
  bool builtin() const override { return true; }
  std::optional<int64_t> inputs() const override { return widths_.front(); }
  const ModelSpec& spec() const override { return spec_; }
  FlatParams GetParameters() const override;
  absl::Status SetParameters(const FlatParams& params) override;
  absl::StatusOr<Eigen::MatrixXf> Forward(const Eigen::MatrixXf& features) override;
  absl::StatusOr<double> Gradient(const Eigen::VectorXf& params, const Eigen::MatrixXf& features,
                                  const Eigen::VectorXf& targets, LossKind loss,
                                  Eigen::VectorXf* gradient) override;
  absl::StatusOr<double> PerExampleGradients(const Eigen::VectorXf& params,
                                             const Eigen::MatrixXf& features,
                                             const Eigen::VectorXf& targets, LossKind loss,
                                             Eigen::MatrixXf* gradients) override;
  absl::StatusOr<double> ClippedGradientSum(const Eigen::VectorXf& params,
                                            const Eigen::MatrixXf& features,
                                            const Eigen::VectorXf& targets, LossKind loss,
                                            double clip_norm, Eigen::VectorXf* sum,
                                            Eigen::VectorXf* norms) override;
  absl::StatusOr<std::string> SerializeTorchScript() override;

 private:
  BuiltinMlp(std::vector<int64_t> widths, ModelSpec spec, Eigen::VectorXf params)
      : widths_(std::move(widths)), spec_(std::move(spec)), params_(std::move(params)) {}

  size_t layers() const { return widths_.size() - 1; }
  absl::Status CheckBatch(const Eigen::VectorXf& params, const Eigen::MatrixXf& features) const;
  // Forward pass into activations_ (hidden layers) and outputs_.
  void RunForward(const float* params, const Eigen::MatrixXf& features);
  // Runs the forward pass, the loss and the backward pass of output
  // gradients, filling deltas_ (one per layer); returns the summed loss.
  double RunForwardBackward(const float* params, const Eigen::MatrixXf& features,
                            const Eigen::VectorXf& targets, LossKind loss);
  // Writes the summed gradient sum_i delta_i a_i^T (and sum_i delta_i for
  // the biases) of the current deltas_ to `out` (spec().size() floats).
  void GradientFromDeltas(const Eigen::MatrixXf& features, float* out) const;
  // The input of layer l for the current batch.
  const Eigen::MatrixXf& LayerInput(size_t l, const Eigen::MatrixXf& features) const {
    return l == 0 ? features : activations_[l - 1];
  }

  std::vector<int64_t> widths_;
  ModelSpec spec_;
  Eigen::VectorXf params_;
  // Per-batch workspaces, kept to avoid reallocating them every step.
  std::vector<Eigen::MatrixXf> activations_;  // after each hidden layer's ReLU
  Eigen::MatrixXf outputs_;
  std::vector<Eigen::MatrixXf> deltas_;  // d loss / d pre-activation, per layer
};

}  // namespace tessera::model
