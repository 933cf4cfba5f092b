// Choosing privacy settings: epsilon for given settings, and the inverse --
// the smallest noise multiplier that meets a target (epsilon, delta) -- with
// either accountant. This is what `tessera privacy` and job validation call.
//
// The inverse is a bisection on a monotone function: epsilon decreases as the
// noise multiplier grows. It keeps a bracket [lo, hi] with eps(lo) > target
// >= eps(hi) and returns hi, so the returned multiplier has always been
// evaluated and shown to meet the target; it is within the relative
// tolerance of the smallest one.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::privacy {

enum class AccountantKind { kRdp, kPld };

// "rdp" or "pld"; INVALID_ARGUMENT naming the choices otherwise.
absl::StatusOr<AccountantKind> ParseAccountantKind(absl::string_view name);
std::string AccountantKindName(AccountantKind kind);

// Settings of a DP-SGD run (or of DP-FedAvg with Gaussian noise).
struct PoissonGaussianSettings {
  double noise_multiplier = 0;
  double sampling_rate = 1;
  int64_t steps = 0;
};

struct EpsilonReport {
  double epsilon = 0;
  double order = 0;  // the optimal RDP order; 0 for the PLD accountant
};

// OK when 0 < q <= 1, steps >= 1 and the noise multiplier is finite and >= 0;
// INVALID_ARGUMENT naming the offending setting otherwise.
absl::Status ValidateSettings(const PoissonGaussianSettings& settings);

// Epsilon at `delta` after `steps` steps. INVALID_ARGUMENT for invalid settings
// or delta outside (0, 1).
absl::StatusOr<EpsilonReport> ComputeEpsilon(AccountantKind kind,
                                             const PoissonGaussianSettings& settings,
                                             double delta);

// The smallest z > 0 (to within `relative_tolerance`) with epsilon_of(z) <=
// target, for an epsilon_of that decreases in z, starting the bracket search
// at `initial_guess`. Searches z in [1e-4, 1e5] (returns 1e-4 if that already
// meets the target); OUT_OF_RANGE when even z = 1e5 misses it. Errors of
// epsilon_of are returned as they are.
absl::StatusOr<double> SmallestSufficient(
    const std::function<absl::StatusOr<double>(double)>& epsilon_of, double target_epsilon,
    double relative_tolerance, double initial_guess = 1.0);

struct NoiseCalibration {
  double noise_multiplier = 0;
  double epsilon = 0;  // epsilon at the returned noise multiplier (<= target)
};

// The smallest noise multiplier meeting (target_epsilon, delta) for the given
// sampling rate and steps. INVALID_ARGUMENT for bad inputs (target_epsilon
// must be > 0 and finite), OUT_OF_RANGE when unreachable.
absl::StatusOr<NoiseCalibration> SmallestNoiseMultiplier(AccountantKind kind,
                                                         double target_epsilon, double delta,
                                                         double sampling_rate, int64_t steps);

}  // namespace tessera::privacy
