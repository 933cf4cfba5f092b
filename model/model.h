// A trainable model as the rest of Tessera sees it: a ModelSpec and flat
// parameters, with libtorch hidden behind this interface. model/ is the only
// part of Tessera that includes torch headers (they cost ~20 s of compile
// per file), so nothing in this header mentions torch.
//
// Thread-safety: a Model is not thread-safe; use one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "common/flat_params.h"

namespace tessera::model {

class Model {
 public:
  // Built-in logistic regression: one linear layer from `features` inputs to
  // `outputs` logits (1 for binary tasks). INVALID_ARGUMENT for sizes < 1.
  static absl::StatusOr<std::unique_ptr<Model>> LogisticRegression(int64_t features,
                                                                   int64_t outputs);

  // Built-in multilayer perceptron with ReLU between the layers `hidden`.
  static absl::StatusOr<std::unique_ptr<Model>> Mlp(int64_t features,
                                                    const std::vector<int64_t>& hidden,
                                                    int64_t outputs);

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  // The trainable parameters' names and shapes in canonical (registration)
  // order.
  const ModelSpec& spec() const;

  // A copy of the current parameters.
  FlatParams GetParameters() const;

  // Replaces every parameter. INVALID_ARGUMENT when `params` has a different
  // spec or a NaN/infinite value; the model is unchanged on error.
  absl::Status SetParameters(const FlatParams& params);

  // Forward pass on a batch (rows are examples, columns features). Returns
  // the raw outputs (logits), one row per example. INVALID_ARGUMENT when the
  // number of columns does not match the model's inputs.
  absl::StatusOr<Eigen::MatrixXf> Forward(const Eigen::MatrixXf& features) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::model
