#include "privacy/dp_event.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera::privacy {
namespace {

struct Validator {
  absl::Status operator()(const PoissonGaussianEvent& e) const {
    if (!std::isfinite(e.noise_multiplier) || e.noise_multiplier < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "noise multiplier must be a finite number >= 0, got ", e.noise_multiplier));
    }
    if (!(e.sampling_rate >= 0 && e.sampling_rate <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampling rate must be in [0, 1], got ", e.sampling_rate));
    }
    return absl::OkStatus();
  }
  absl::Status operator()(const SkellamEvent& e) const {
    if (!std::isfinite(e.l2_sensitivity) || e.l2_sensitivity <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Skellam L2 sensitivity must be finite and > 0, got ", e.l2_sensitivity));
    }
    if (!std::isfinite(e.l1_sensitivity) || e.l1_sensitivity < e.l2_sensitivity) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Skellam L1 sensitivity must be finite and >= the L2 sensitivity (",
          e.l2_sensitivity, "), got ", e.l1_sensitivity));
    }
    if (!std::isfinite(e.variance) || e.variance <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Skellam noise variance must be finite and > 0, got ", e.variance));
    }
    return absl::OkStatus();
  }
};

struct Describer {
  std::string operator()(const PoissonGaussianEvent& e) const {
    return absl::StrFormat("poisson-gaussian(z=%g, q=%g)", e.noise_multiplier, e.sampling_rate);
  }
  std::string operator()(const SkellamEvent& e) const {
    return absl::StrFormat("skellam(l2=%g, l1=%g, variance=%g)", e.l2_sensitivity,
                           e.l1_sensitivity, e.variance);
  }
};

}  // namespace

absl::Status ValidateEvent(const DpEvent& event) { return std::visit(Validator{}, event); }

std::string DescribeEvent(const DpEvent& event) { return std::visit(Describer{}, event); }

absl::Status ValidateEntry(const DpEvent& event, int64_t count) {
  if (absl::Status status = ValidateEvent(event); !status.ok()) return status;
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("event count must be >= 0, got ", count));
  }
  return absl::OkStatus();
}

absl::Status ValidateDelta(double delta) {
  if (!(delta > 0 && delta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("delta must be in (0, 1), got ", delta));
  }
  return absl::OkStatus();
}

absl::Status PrivacyLedger::Add(const DpEvent& event, int64_t count) {
  if (absl::Status status = ValidateEntry(event, count); !status.ok()) return status;
  if (count == 0) return absl::OkStatus();
  if (!entries_.empty() && entries_.back().event == event) {
    entries_.back().count += count;
  } else {
    entries_.push_back(LedgerEntry{event, count});
  }
  return absl::OkStatus();
}

}  // namespace tessera::privacy
