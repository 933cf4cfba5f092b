// Local training inside the site agent: mini-batch SGD or Adam on a Model,
// optionally with FedProx's proximal term and with DP-SGD.
//
// Data are an Eigen matrix of features (rows = examples) and one target per
// example (see model/loss.h for what a target is for each loss). Training
// starts from the global parameters the coordinator sent and returns the new
// local parameters plus statistics. The optimiser, the losses and DP-SGD
// work on flat parameter vectors in plain C++; only the gradient comes from
// the model (Eigen for built-ins, libtorch autograd for TorchScript).
//
// Non-private training: each epoch visits every example once in a fresh
// random order (seeded by `seed`), in batches of `batch_size` (the last one
// may be smaller); a step follows the gradient of the batch's mean loss.
//
// DP-SGD (Abadi et al. 2016, "Deep Learning with Differential Privacy",
// arXiv:1607.00133, Algorithm 1), record-level: each step samples a lot by
// Poisson sampling (each record independently with probability
// q = batch_size / N, so the lot's size varies), clips each example's
// gradient to L2 norm C, adds Gaussian noise N(0, sigma^2 C^2 I) to the sum
// of the clipped gradients and divides by the expected lot size qN. The
// number of steps is epochs * ceil(N / batch_size). Privacy accounting is
// left to privacy/: the result reports (q, sigma, steps), which is exactly
// the Poisson-subsampled Gaussian mechanism composed `steps` times
// (Mironov, Talwar & Zhang 2019, arXiv:1908.10530). The lots and the noise
// come from the OS CSPRNG unless a test seed is given (see model/random.h for
// why).
//
// FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous
// Networks", arXiv:1812.06127, Eq. 2): when mu > 0 the local objective gains
// (mu/2) ||w - w_global||^2, i.e. mu (w - w_global) is added to every step's
// gradient. Under DP-SGD the term does not depend on the data, so it is added
// after the noise and is not clipped.
//
// Repeatability: with the same model, data, options and seed (and, for
// DP-SGD, the same test seed), training gives bit-identical parameters on the
// same machine and thread count.
//
// Thread-safety: Train and Evaluate use the model exclusively; they set
// libtorch's process-wide thread count and (for TorchScript models) seed its
// process-wide generator, so run one training at a time per process.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "common/flat_params.h"
#include "model/loss.h"
#include "model/model.h"
#include "model/optimizer.h"

namespace tessera::model {

struct DpSgdOptions {
  bool enabled = false;
  double clip_norm = 1.0;         // C: each example's gradient is clipped to this L2 norm
  double noise_multiplier = 1.0;  // sigma: noise std = sigma * C on the sum of clipped gradients
  // Tests and simulations only: draw the Poisson sampling and the noise from
  // a generator seeded with this value, making DP-SGD repeatable and its
  // noise predictable (which voids the privacy guarantee). Unset in
  // production: both then come from the OS CSPRNG.
  std::optional<uint64_t> insecure_test_seed;
};

struct TrainOptions {
  LossKind loss = LossKind::kBinaryCrossEntropyWithLogits;
  OptimizerOptions optimizer;
  int64_t epochs = 1;
  // Non-private: examples per step. DP-SGD: the expected lot size qN.
  int64_t batch_size = 32;
  // FedProx's mu; 0 turns the proximal term off.
  double proximal_mu = 0.0;
  // Shuffling of non-private training, and libtorch's generator.
  uint64_t seed = 0;
  // libtorch intra-op threads (TorchScript models). Built-in models run on
  // the calling thread.
  int threads = 1;
  DpSgdOptions dp;
};

// The mechanism DP-SGD applied, for the privacy accountant: `steps`
// compositions of the Poisson-subsampled Gaussian mechanism with sampling
// rate `sampling_rate` and noise multiplier `noise_multiplier`.
struct DpSgdReport {
  double sampling_rate = 0.0;
  double noise_multiplier = 0.0;
  double clip_norm = 0.0;
  int64_t steps = 0;
  int64_t records = 0;  // N, the number of records sampled from
};

struct TrainResult {
  FlatParams params;
  int64_t examples_seen = 0;  // sum of the batch (lot) sizes
  int64_t steps = 0;
  // Mean per-example training loss over every example seen, each measured at
  // the parameters before its step. Not differentially private: keep it in
  // the trust (logs, local checks), never send it out.
  double mean_loss = 0.0;
  std::optional<DpSgdReport> dp;  // set when DP-SGD ran
};

// Trains `model` from `start` on (features, targets) and returns the new
// parameters; the model's stored parameters are set to them too.
// INVALID_ARGUMENT when the data are empty or do not fit the model or the
// loss (ValidateTargets), when `start` does not fit the model or is not
// finite, or when an option is out of range (epochs, batch_size, threads
// < 1; learning rate, clip norm not positive; mu, noise multiplier negative;
// betas outside [0, 1)). INVALID_ARGUMENT too when training diverges to a
// NaN or infinite parameter. INTERNAL when DP-SGD cannot read the OS
// random generator.
absl::StatusOr<TrainResult> Train(Model& model, const Eigen::MatrixXf& features,
                                  const Eigen::VectorXf& targets, const FlatParams& start,
                                  const TrainOptions& options);

struct EvalOptions {
  LossKind loss = LossKind::kBinaryCrossEntropyWithLogits;
  // Bins of the score histograms over [0, 1] (binary tasks).
  int64_t histogram_bins = 64;
  // Examples per forward pass (bounds memory, not results).
  int64_t batch_size = 1024;
  int threads = 1;
};

// Metrics of one model on one site's data, built to be summed across sites
// under secure aggregation: every field is a sum or a count.
struct Evaluation {
  double loss_sum = 0.0;   // sum of per-example losses
  int64_t correct = 0;     // binary: (logit > 0) == label; multi-class: argmax == class;
                           // regression: 0 (no notion of correct)
  int64_t examples = 0;
  // Binary tasks only (empty otherwise): counts of the positive-class
  // probability sigmoid(logit) in `histogram_bins` equal bins over [0, 1]
  // (ScoreBin in model/roc_auc.h), for examples labelled 0 and 1. Summed over
  // sites they give the federation's ROC AUC (RocAucFromHistograms).
  std::vector<int64_t> negative_histogram;
  std::vector<int64_t> positive_histogram;
};

// Evaluates `params` on (features, targets); sets the model's stored
// parameters to `params`. INVALID_ARGUMENT as Train for data, params and
// options (histogram_bins, batch_size, threads < 1). Binary tasks need 0/1
// labels here.
absl::StatusOr<Evaluation> Evaluate(Model& model, const Eigen::MatrixXf& features,
                                    const Eigen::VectorXf& targets, const FlatParams& params,
                                    const EvalOptions& options);

}  // namespace tessera::model
