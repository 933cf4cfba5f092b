#include "privacy/calibration.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "privacy/dp_event.h"
#include "privacy/pld_accountant.h"
#include "privacy/rdp_accountant.h"

namespace tessera::privacy {
namespace {

constexpr double kSmallestNoise = 1e-4;
constexpr double kLargestNoise = 1e5;
// Bisection tolerances: RDP is cheap, PLD costs a convolution per evaluation.
constexpr double kRdpTolerance = 1e-7;
constexpr double kPldTolerance = 1e-5;

}  // namespace

absl::StatusOr<AccountantKind> ParseAccountantKind(absl::string_view name) {
  if (name == "rdp") return AccountantKind::kRdp;
  if (name == "pld") return AccountantKind::kPld;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown accountant `", name, "`; choose rdp or pld"));
}

std::string AccountantKindName(AccountantKind kind) {
  return kind == AccountantKind::kRdp ? "rdp" : "pld";
}

absl::Status ValidateSettings(const PoissonGaussianSettings& settings) {
  if (!std::isfinite(settings.noise_multiplier) || settings.noise_multiplier < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "noise multiplier must be a finite number >= 0, got ", settings.noise_multiplier));
  }
  if (!(settings.sampling_rate > 0 && settings.sampling_rate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling rate must be in (0, 1], got ", settings.sampling_rate));
  }
  if (settings.steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be at least 1, got ", settings.steps));
  }
  return absl::OkStatus();
}

absl::StatusOr<EpsilonReport> ComputeEpsilon(AccountantKind kind,
                                             const PoissonGaussianSettings& settings,
                                             double delta) {
  if (absl::Status status = ValidateSettings(settings); !status.ok()) return status;
  if (absl::Status status = ValidateDelta(delta); !status.ok()) return status;
  const PoissonGaussianEvent event{settings.noise_multiplier, settings.sampling_rate};
  if (kind == AccountantKind::kRdp) {
    RdpAccountant accountant;
    if (absl::Status status = accountant.Compose(event, settings.steps); !status.ok()) {
      return status;
    }
    absl::StatusOr<RdpEpsilon> eps = accountant.Epsilon(delta);
    if (!eps.ok()) return eps.status();
    return EpsilonReport{eps->epsilon, eps->order};
  }
  PldAccountant accountant;
  if (absl::Status status = accountant.Compose(event, settings.steps); !status.ok()) return status;
  absl::StatusOr<double> eps = accountant.Epsilon(delta);
  if (!eps.ok()) return eps.status();
  return EpsilonReport{*eps, 0};
}

absl::StatusOr<double> SmallestSufficient(
    const std::function<absl::StatusOr<double>(double)>& epsilon_of, double target_epsilon,
    double relative_tolerance, double initial_guess) {
  auto meets = [&](double z) -> absl::StatusOr<bool> {
    absl::StatusOr<double> eps = epsilon_of(z);
    if (!eps.ok()) return eps.status();
    return *eps <= target_epsilon;
  };
  double guess = std::clamp(initial_guess, kSmallestNoise, kLargestNoise);
  absl::StatusOr<bool> ok = meets(guess);
  if (!ok.ok()) return ok.status();
  double lo, hi;  // invariant: eps(lo) > target >= eps(hi)
  if (*ok) {
    hi = guess;
    lo = hi;
    for (;;) {
      lo = std::max(kSmallestNoise, lo * 0.8);
      absl::StatusOr<bool> lower_ok = meets(lo);
      if (!lower_ok.ok()) return lower_ok.status();
      if (!*lower_ok) break;
      hi = lo;
      if (lo == kSmallestNoise) return kSmallestNoise;
    }
  } else {
    lo = guess;
    hi = guess;
    for (;;) {
      if (hi >= kLargestNoise) {
        return absl::OutOfRangeError(absl::StrCat(
            "no noise multiplier up to ", kLargestNoise, " reaches epsilon ", target_epsilon));
      }
      hi = std::min(kLargestNoise, hi * 2);
      absl::StatusOr<bool> upper_ok = meets(hi);
      if (!upper_ok.ok()) return upper_ok.status();
      if (*upper_ok) break;
      lo = hi;
    }
  }
  while (hi - lo > relative_tolerance * hi) {
    const double mid = 0.5 * (lo + hi);
    absl::StatusOr<bool> mid_ok = meets(mid);
    if (!mid_ok.ok()) return mid_ok.status();
    (*mid_ok ? hi : lo) = mid;
  }
  return hi;
}

absl::StatusOr<NoiseCalibration> SmallestNoiseMultiplier(AccountantKind kind,
                                                         double target_epsilon, double delta,
                                                         double sampling_rate, int64_t steps) {
  if (!(target_epsilon > 0) || !std::isfinite(target_epsilon)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target epsilon must be finite and > 0, got ", target_epsilon));
  }
  if (absl::Status status = ValidateDelta(delta); !status.ok()) return status;
  if (absl::Status status = ValidateSettings({1.0, sampling_rate, steps}); !status.ok()) {
    return status;
  }
  auto epsilon_with = [&](AccountantKind which) {
    return [=](double z) -> absl::StatusOr<double> {
      absl::StatusOr<EpsilonReport> report =
          ComputeEpsilon(which, {z, sampling_rate, steps}, delta);
      if (!report.ok()) return report.status();
      return report->epsilon;
    };
  };
  absl::StatusOr<double> z =
      SmallestSufficient(epsilon_with(AccountantKind::kRdp), target_epsilon, kRdpTolerance);
  if (!z.ok()) return z.status();
  if (kind == AccountantKind::kPld) {
    // The RDP answer is a good upper starting point: PLD epsilon is smaller.
    z = SmallestSufficient(epsilon_with(AccountantKind::kPld), target_epsilon, kPldTolerance, *z);
    if (!z.ok()) return z.status();
  }
  absl::StatusOr<double> achieved = epsilon_with(kind)(*z);
  if (!achieved.ok()) return achieved.status();
  if (!(*achieved <= target_epsilon)) {
    // Cannot happen: SmallestSufficient only returns evaluated, passing points.
    return absl::InternalError(absl::StrCat("calibrated noise multiplier ", *z, " gives epsilon ",
                                            *achieved, " above the target ", target_epsilon));
  }
  return NoiseCalibration{*z, *achieved};
}

}  // namespace tessera::privacy
