// `tessera privacy ...`: epsilon for given DP-SGD / DP-FedAvg settings, and
// the smallest noise multiplier for a target epsilon. Offline: these commands
// only compute, they never contact the coordinator.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "coordinator/cli/commands.h"
#include "nlohmann/json.hpp"
#include "privacy/calibration.h"

namespace tessera::cli {
namespace {

struct PrivacyFlags {
  double noise_multiplier = 0;
  double sampling_rate = 0;
  int64_t steps = 0;
  double delta = 0;
  double epsilon = 0;
  std::string accountant = "rdp";
  bool json = false;
};

// A validator that accepts a finite number in a range and otherwise says
// which range, e.g. "must be a number in (0, 1], got '1.5'". CLI11 prefixes
// the flag name, so every error names the flag. An infinite `hi` means no
// upper bound.
CLI::Validator NumberIn(double lo, bool lo_open, double hi, bool hi_open) {
  const std::string range =
      std::isinf(hi) ? absl::StrFormat("%s %g", lo_open ? ">" : ">=", lo)
                     : absl::StrFormat("in %s%g, %g%s", lo_open ? "(" : "[", lo, hi,
                                       hi_open ? ")" : "]");
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        const bool parsed = !text.empty() && end == text.c_str() + text.size() && errno == 0;
        const bool in_range = parsed && std::isfinite(value) &&
                              (lo_open ? value > lo : value >= lo) &&
                              (hi_open ? value < hi : value <= hi);
        if (in_range) return std::string();
        return absl::StrFormat("must be a number %s, got '%s'", range, text);
      },
      "NUMBER " + range);
}

CLI::Validator PositiveInteger() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long value = std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && end == text.c_str() + text.size() && errno == 0 && value >= 1) {
          return std::string();
        }
        return absl::StrFormat("must be a whole number >= 1, got '%s'", text);
      },
      "INTEGER >= 1");
}

constexpr double kUnbounded = std::numeric_limits<double>::infinity();

void AddSettingsOptions(CLI::App* command, PrivacyFlags& flags) {
  command
      ->add_option("--sampling-rate", flags.sampling_rate,
                   "Probability that each record (or site) joins a step, in (0, 1]")
      ->required()
      ->check(NumberIn(0, true, 1, false));
  command->add_option("--steps", flags.steps, "Number of steps (or rounds)")
      ->required()
      ->check(PositiveInteger());
  command->add_option("--delta", flags.delta, "Target delta, in (0, 1)")
      ->required()
      ->check(NumberIn(0, true, 1, true));
  command->add_option("--accountant", flags.accountant, "rdp (default) or pld (tighter, slower)")
      ->check(CLI::IsMember({"rdp", "pld"}));
  command->add_flag("--json", flags.json, "Print JSON");
}

nlohmann::json NumberOrNull(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

absl::Status RunEpsilon(const PrivacyFlags& flags) {
  TESSERA_ASSIGN_OR_RETURN(privacy::AccountantKind kind,
                           privacy::ParseAccountantKind(flags.accountant));
  const privacy::PoissonGaussianSettings settings{flags.noise_multiplier, flags.sampling_rate,
                                                  flags.steps};
  TESSERA_ASSIGN_OR_RETURN(privacy::EpsilonReport report,
                           privacy::ComputeEpsilon(kind, settings, flags.delta));
  if (flags.json) {
    nlohmann::json out = {{"accountant", flags.accountant},
                          {"epsilon", NumberOrNull(report.epsilon)},
                          {"delta", flags.delta},
                          {"noise_multiplier", flags.noise_multiplier},
                          {"sampling_rate", flags.sampling_rate},
                          {"steps", flags.steps}};
    if (kind == privacy::AccountantKind::kRdp) out["order"] = NumberOrNull(report.order);
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("epsilon          %s\n",
                               std::isfinite(report.epsilon)
                                   ? absl::StrFormat("%.6g", report.epsilon)
                                   : std::string("unbounded"))
            << absl::StrFormat("delta            %g\n", flags.delta)
            << absl::StrFormat("accountant       %s\n", flags.accountant);
  if (kind == privacy::AccountantKind::kRdp) {
    std::cout << absl::StrFormat("optimal order    %g\n", report.order);
  }
  std::cout << absl::StrFormat("noise multiplier %g\nsampling rate    %g\nsteps            %d\n",
                               flags.noise_multiplier, flags.sampling_rate, flags.steps);
  return absl::OkStatus();
}

absl::Status RunNoiseMultiplier(const PrivacyFlags& flags) {
  TESSERA_ASSIGN_OR_RETURN(privacy::AccountantKind kind,
                           privacy::ParseAccountantKind(flags.accountant));
  TESSERA_ASSIGN_OR_RETURN(privacy::NoiseCalibration calibration,
                           privacy::SmallestNoiseMultiplier(kind, flags.epsilon, flags.delta,
                                                            flags.sampling_rate, flags.steps));
  if (flags.json) {
    nlohmann::json out = {{"accountant", flags.accountant},
                          {"noise_multiplier", calibration.noise_multiplier},
                          {"epsilon", calibration.epsilon},
                          {"target_epsilon", flags.epsilon},
                          {"delta", flags.delta},
                          {"sampling_rate", flags.sampling_rate},
                          {"steps", flags.steps}};
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat(
      "noise multiplier %.6g\nepsilon          %.6g (target %g)\ndelta            %g\n"
      "accountant       %s\nsampling rate    %g\nsteps            %d\n",
      calibration.noise_multiplier, calibration.epsilon, flags.epsilon, flags.delta,
      flags.accountant, flags.sampling_rate, flags.steps);
  return absl::OkStatus();
}

}  // namespace

void AddPrivacyCommands(CLI::App& app, CommandResult& result) {
  static PrivacyFlags flags;
  CLI::App* group = AddCommandGroup(
      app, "privacy", "Compute privacy guarantees (offline; no coordinator needed).");

  CLI::App* epsilon = group->add_subcommand(
      "epsilon",
      "Epsilon of the Poisson-subsampled Gaussian mechanism (DP-SGD or DP-FedAvg) after the "
      "given number of steps, at the given delta.");
  epsilon
      ->add_option("--noise-multiplier", flags.noise_multiplier,
                   "Noise standard deviation divided by the clipping norm, > 0")
      ->required()
      ->check(NumberIn(0, true, kUnbounded, false));
  AddSettingsOptions(epsilon, flags);
  epsilon->callback(result.Bind([] { return RunEpsilon(flags); }));

  CLI::App* noise = group->add_subcommand(
      "noise-multiplier",
      "The smallest noise multiplier whose epsilon after the given steps is at most the target.");
  noise->add_option("--epsilon", flags.epsilon, "Target epsilon, > 0")
      ->required()
      ->check(NumberIn(0, true, kUnbounded, false));
  AddSettingsOptions(noise, flags);
  noise->callback(result.Bind([] { return RunNoiseMultiplier(flags); }));
}

}  // namespace tessera::cli
