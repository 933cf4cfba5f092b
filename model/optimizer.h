// The local optimisers, on flat parameter vectors: SGD (with optional
// heavy-ball momentum) and Adam, each step computed as PyTorch 1.13's
// torch.optim.SGD and torch.optim.Adam compute it (no weight decay, no
// dampening, no Nesterov, no AMSGrad).
//
// Thread-safety: an Optimizer holds its moment estimates; use one per
// training run and thread.
#pragma once

#include <cstdint>
#include <memory>

#include "Eigen/Core"
#include "absl/status/statusor.h"

namespace tessera::model {

enum class OptimizerKind { kSgd, kAdam };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kSgd;
  double learning_rate = 0.01;
  // SGD: buffer = momentum * buffer + gradient (buffer = gradient on the
  // first step), then w -= lr * buffer. 0 is plain SGD: w -= lr * gradient.
  double momentum = 0.0;
  // Adam (Kingma & Ba 2015, arXiv:1412.6980, Algorithm 1): m and v are
  // exponential averages of g and g^2; w -= lr / (1 - beta1^t) * m /
  // (sqrt(v) / sqrt(1 - beta2^t) + epsilon).
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
};

class Optimizer {
 public:
  // An optimiser for `size` parameters. INVALID_ARGUMENT when the learning
  // rate or epsilon is not positive, momentum is outside [0, 1), or a beta
  // is outside [0, 1).
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(const OptimizerOptions& options,
                                                           int64_t size);
  virtual ~Optimizer() = default;
  // One step: updates `params` in place from `gradient` (same length as
  // given to Create).
  virtual void Step(const Eigen::VectorXf& gradient, Eigen::VectorXf* params) = 0;
};

}  // namespace tessera::model
