#include "model/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::model {
namespace {

class Sgd final : public Optimizer {
 public:
  Sgd(double learning_rate, double momentum)
      : learning_rate_(static_cast<float>(learning_rate)), momentum_(static_cast<float>(momentum)) {}

  void Step(const Eigen::VectorXf& gradient, Eigen::VectorXf* params) override {
    if (momentum_ == 0.0f) {
      *params -= learning_rate_ * gradient;
      return;
    }
    if (buffer_.size() == 0) {
      buffer_ = gradient;
    } else {
      buffer_ = momentum_ * buffer_ + gradient;
    }
    *params -= learning_rate_ * buffer_;
  }

 private:
  float learning_rate_;
  float momentum_;
  Eigen::VectorXf buffer_;
};

class Adam final : public Optimizer {
 public:
  Adam(const OptimizerOptions& options, int64_t size)
      : options_(options),
        first_(Eigen::ArrayXf::Zero(size)),
        second_(Eigen::ArrayXf::Zero(size)) {}

  void Step(const Eigen::VectorXf& gradient, Eigen::VectorXf* params) override {
    ++step_;
    const auto beta1 = static_cast<float>(options_.beta1);
    const auto beta2 = static_cast<float>(options_.beta2);
    first_ = beta1 * first_ + (1.0f - beta1) * gradient.array();
    second_ = beta2 * second_ + (1.0f - beta2) * gradient.array().square();
    const double correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
    const double correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
    const auto step_size = static_cast<float>(options_.learning_rate / correction1);
    const auto root_correction2 = static_cast<float>(std::sqrt(correction2));
    const auto epsilon = static_cast<float>(options_.epsilon);
    params->array() -= step_size * first_ / (second_.sqrt() / root_correction2 + epsilon);
  }

 private:
  OptimizerOptions options_;
  Eigen::ArrayXf first_;
  Eigen::ArrayXf second_;
  int64_t step_ = 0;
};

bool InUnitInterval(double x) { return x >= 0.0 && x < 1.0; }

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const OptimizerOptions& options,
                                                             int64_t size) {
  if (!(options.learning_rate > 0.0) || !std::isfinite(options.learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the learning rate must be positive; got ", options.learning_rate));
  }
  switch (options.kind) {
    case OptimizerKind::kSgd:
      if (!InUnitInterval(options.momentum)) {
        return absl::InvalidArgumentError(
            absl::StrCat("SGD momentum must be in [0, 1); got ", options.momentum));
      }
      return std::unique_ptr<Optimizer>(new Sgd(options.learning_rate, options.momentum));
    case OptimizerKind::kAdam:
      if (!InUnitInterval(options.beta1) || !InUnitInterval(options.beta2)) {
        return absl::InvalidArgumentError(absl::StrCat("Adam's betas must be in [0, 1); got ",
                                                       options.beta1, " and ", options.beta2));
      }
      if (!(options.epsilon > 0.0)) {
        return absl::InvalidArgumentError("Adam's epsilon must be positive");
      }
      return std::unique_ptr<Optimizer>(new Adam(options, size));
  }
  return absl::InvalidArgumentError("unknown optimiser");
}

}  // namespace tessera::model
